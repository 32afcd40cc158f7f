"""Sentence segmentation: offsets slice the text exactly, and the seeds' traps are handled."""

from __future__ import annotations

import pytest

from model.segment import split_sentences
from tests.conftest import SEED_ARTICLES


@pytest.mark.parametrize("path", SEED_ARTICLES, ids=lambda p: p.stem)
def test_offsets_slice_each_seed_article_exactly(path):
    text = path.read_text(encoding="utf-8")
    segments = split_sentences(text)
    assert segments
    for segment in segments:
        assert text[segment.start : segment.end] == segment.text
        assert segment.text == segment.text.strip()
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_date_marker_and_dateline_become_their_own_segment():
    assert texts("date 2023-03-17 BEIJING: Xi will visit Russia. He leaves Monday.") == [
        "date 2023-03-17 BEIJING:",
        "Xi will visit Russia.",
        "He leaves Monday.",
    ]
    assert texts("BEIJING/MOSCOW - The two sides met.")[0] == "BEIJING/MOSCOW -"
    assert texts("KYIV, Ukraine (AP) — Shelling resumed.")[0] == "KYIV, Ukraine (AP) —"


def test_abbreviations_do_not_end_sentences():
    assert texts("Xi will be in Russia from Mar 17 to 22. Mr Wang agreed.") == [
        "Xi will be in Russia from Mar 17 to 22.",
        "Mr Wang agreed.",
    ]


def test_caption_line_is_not_glued_to_the_first_sentence():
    text = (
        "This photo shows Russian President Vladimir Putin, and China's President Xi Jinping.\n"
        "China says Xi will visit Russia from March 22 (AP File)\n"
        "The announcement came on Friday."
    )
    assert texts(text) == [
        "This photo shows Russian President Vladimir Putin, and China's President Xi Jinping.",
        "China says Xi will visit Russia from March 22 (AP File)",
        "The announcement came on Friday.",
    ]


def test_quotes_stay_inside_their_sentence():
    text = "“We hope for dialogue,” Qin said. “China will play a constructive role.”"
    assert texts(text) == ["“We hope for dialogue,” Qin said.", "“China will play a constructive role.”"]


def test_a_lower_case_tail_is_merged_into_its_sentence():
    text = "Beijing opposes unilateral sanctions. that do not comply with UN law, it said."
    assert texts(text) == [text]


def test_empty_and_blank_text_give_no_segments():
    assert split_sentences("") == []
    assert split_sentences("  \n\t ") == []


def test_a_lower_case_lead_is_not_merged_into_the_dateline():
    assert texts("BEIJING: china said it would help.") == ["BEIJING:", "china said it would help."]
