"""Sentence segmentation with exact character offsets into the original text.

pysbd does the sentence boundary detection (abbreviations such as "Mr", "Mar 17",
quotes). Around it we handle what news text adds:
- every line is a unit of its own, so headlines, "Also read | ..." links and captions
  without a final full stop do not glue onto the next sentence;
- a leading "date 2023-03-17" marker and a wire dateline ("BEIJING:",
  "BEIJING/MOSCOW -") become a segment of their own instead of a prefix of the lead;
- a piece that starts in lower case ("sanctions. that do not comply ...") is the tail
  of a stray full stop and is merged back into the sentence before it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_LINE = re.compile(r"[^\n]+")
# "date 2023-03-17 " and/or an all-caps place dateline ending in ":" or a dash.
_DATELINE = re.compile(
    r"(?:date\s+\d{4}-\d{2}-\d{2}\s+)?"
    r"(?:[A-Z][A-Z.'’]+(?:[ /][A-Z][A-Z.'’]+)*(?:,\s*[A-Z][A-Za-z.]+)?(?:\s*\([A-Z][A-Za-z]*\))?\s*(?::|\s[-–—])\s+)?"
)


@dataclass(frozen=True)
class Segment:
    """A sentence and its [start, end) character offsets in the source text."""

    start: int
    end: int
    text: str


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink [start, end) to exclude surrounding white space; None if nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _dateline_end(line: str) -> int:
    """End offset of a leading date marker / dateline in `line`, or 0 if there is none."""
    indent = len(line) - len(line.lstrip())
    match = _DATELINE.match(line, indent)
    if not match or match.end() == indent or match.end() >= len(line.rstrip()):
        return 0
    return match.end()


def split_sentences(text: str) -> list[Segment]:
    """Split `text` into sentences; `text[s.start:s.end] == s.text` for every segment."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        line_start = line.start()
        body = line.group()
        head = _dateline_end(body)
        if head:
            trimmed = _trimmed(text, line_start, line_start + head)
            if trimmed:
                spans.append(trimmed)
        offset = line_start + head
        for piece in _segmenter().segment(text[offset : line.end()]):
            trimmed = _trimmed(text, offset + piece.start, offset + piece.end)
            if trimmed is None:
                continue
            # Merge only into a sentence of this line's body, never into its dateline.
            if spans and text[trimmed[0]].islower() and spans[-1][0] >= offset:
                spans[-1] = (spans[-1][0], trimmed[1])
            else:
                spans.append(trimmed)
    return [Segment(start, end, text[start:end]) for start, end in spans]

