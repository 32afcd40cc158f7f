"""Sentence segmentation with exact character offsets into the original text.

pysbd does the sentence boundary detection (abbreviations such as "Mr", "Mar 17",
quotes). Around it we handle what news text adds:
- every line is a unit of its own, so headlines, "Also read | ..." links and captions
  without a final full stop do not glue onto the next sentence;
- a leading "date 2023-03-17" marker and a wire dateline ("BEIJING:",
  "BEIJING/MOSCOW -") become a segment of their own instead of a prefix of the lead;
- a piece that starts in lower case ("sanctions. that do not comply ...") is the tail
  of a stray full stop and is merged back into the sentence before it.

pysbd is guarded so that no input can hang it or make it lose text (issue #13):
- it never sees its own placeholder characters (it rewrites them and then cannot find
  the sentence again) nor square brackets (its numbered-reference regex backtracks
  exponentially on "[111 111 ...]"): both are replaced, one character for one, in the
  copy it reads, so every offset still points into the original text;
- it reads at most MAX_PIECE_CHARS characters at a time, cut at white space, which bounds
  the cost of its other superlinear regexes;
- its spans must cover every visible character of the piece once, in order; where they do
  not, a plain linear splitter on sentence-final punctuation is used for that piece.
Characters that are neither visible nor white space (NUL, zero-width, other format and
control characters) are trimmed from segment edges; a segment of nothing else is dropped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

_LINE = re.compile(r"[^\n]+")
# "date 2023-03-17 " and/or an all-caps place dateline ending in ":" or a dash.
_DATELINE = re.compile(
    r"(?:date\s+\d{4}-\d{2}-\d{2}\s+)?"
    r"(?:[A-Z][A-Z.'’]+(?:[ /][A-Z][A-Z.'’]+)*(?:,\s*[A-Z][A-Za-z.]+)?(?:\s*\([A-Z][A-Za-z]*\))?\s*(?::|\s[-–—])\s+)?"
)


# pysbd's internal placeholder characters, and the brackets of its numbered-reference rule.
_PYSBD_RESERVED = "∯♟♝ǃ♨☝ƪᓴ✂☏☉☈☇☄∮ȹȸᓷ⎋⌬ᓸᓳᓱᓰ♭♬"
_PYSBD_SAFE = str.maketrans({char: "¤" for char in _PYSBD_RESERVED} | {"[": "(", "]": ")"})
MAX_PIECE_CHARS = 1000
# Characters that show nothing: white space, C0 and C1 controls, and the zero-width and
# direction format characters. Written as a character class the API's JSON schema can carry
# too (service/schemas.py), so the schema and the check agree on what is blank.
INVISIBLE_CHARACTERS = "\\x00-\\x20\\x7f-\\xa0\\xad\\u061c\\u1680\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff"
VISIBLE_PATTERN = f"[^{INVISIBLE_CHARACTERS}]"
_VISIBLE = re.compile(VISIBLE_PATTERN)
# The fallback: a sentence ends at . ! ? (and closing quotes or brackets) before white space.
_FALLBACK_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


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


def has_visible_text(text: str) -> bool:
    """Whether `text` has a character that shows (not only white space, NUL, zero-width and the like)."""
    return _VISIBLE.search(text) is not None


def _invisible(char: str) -> bool:
    return _VISIBLE.match(char) is None


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink [start, end) to exclude invisible characters at both ends; None if nothing is left."""
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return (start, end) if start < end else None


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """[start, end) cut into pieces of at most MAX_PIECE_CHARS, at white space where there is some."""
    while end - start > MAX_PIECE_CHARS:
        cut = text.rfind(" ", start + MAX_PIECE_CHARS // 2, start + MAX_PIECE_CHARS)
        cut = cut + 1 if cut > start else start + MAX_PIECE_CHARS
        yield start, cut
        start = cut
    yield start, end


def _covers(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether `spans` are in order, inside [start, end) and cover every visible character there once."""
    position = start
    for span_start, span_end in spans:
        if span_start < position or span_end > end or span_start >= span_end:
            return False
        if any(not _invisible(char) for char in text[position:span_start]):
            return False
        position = span_end
    return all(_invisible(char) for char in text[position:end])


def _fallback_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A linear splitter: a sentence ends at final punctuation followed by white space."""
    spans, begin = [], start
    for match in _FALLBACK_END.finditer(text, start, end):
        spans.append((begin, match.end()))
        begin = match.end()
    spans.append((begin, end))
    return [trimmed for span in spans if (trimmed := _trimmed(text, *span))]


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """pysbd's sentences of text[start:end] as trimmed spans, or the fallback's where pysbd loses text."""
    spans = []
    for piece_start, piece_end in _pieces(text, start, end):
        safe = text[piece_start:piece_end].translate(_PYSBD_SAFE)
        found = [
            trimmed
            for piece in _segmenter().segment(safe)
            if (trimmed := _trimmed(text, piece_start + piece.start, piece_start + piece.end))
        ]
        spans += found if _covers(text, piece_start, piece_end, found) else _fallback_spans(text, piece_start, piece_end)
    return spans


def _dateline_end(line: str) -> int:
    """End offset of a leading date marker / dateline in `line`, or 0 if there is none."""
    indent = len(line) - len(line.lstrip())
    match = _DATELINE.match(line, indent)
    if not match or match.end() == indent or match.end() >= len(line.rstrip()):
        return 0
    return match.end()


def split_sentences(text: str) -> list[Segment]:
    """Split `text` into sentences; `text[s.start:s.end] == s.text` for every segment.

    The segments cover every visible character of `text` exactly once, in order.
    """
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
        for sentence in _sentence_spans(text, offset, line.end()):
            # Merge only into a sentence of this line's body, never into its dateline.
            if spans and text[sentence[0]].islower() and spans[-1][0] >= offset:
                spans[-1] = (spans[-1][0], sentence[1])
            else:
                spans.append(sentence)
    return [Segment(start, end, text[start:end]) for start, end in spans]
