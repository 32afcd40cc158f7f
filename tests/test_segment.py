"""Sentence segmentation: offsets slice the text exactly, and the seeds' traps are handled."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Inputs that hung pysbd or made it drop a sentence (issue #13).
PATHOLOGICAL = [
    "..[" + " ".join(["111"] * 26) + "]",
    "Critics call it a ♭ sham. China welcomed it.",
    "A ∯ B. C ȸ D. E ♬ F. G ☉ H. I ☇ J ☈ K ☄ L.",
    "x" * 50_000,
    "a. " * 20_000,
    "\n".join("a" for _ in range(20_000)),
    "[" * 5_000 + "1" * 5_000 + "]" * 5_000,
    "\x00\x00 \u200b\u200b",
]


def visible_characters(text: str) -> list[int]:
    from model.segment import _invisible

    return [i for i, char in enumerate(text) if not _invisible(char)]


def assert_covers_exactly(text: str) -> None:
    segments = split_sentences(text)
    visible = visible_characters(text)
    visible_set = set(visible)
    covered = []
    for segment in segments:
        assert text[segment.start : segment.end] == segment.text
        assert visible_characters(segment.text), "a segment of nothing visible"
        covered += [i for i in range(segment.start, segment.end) if i in visible_set]
    assert covered == visible, "every visible character once, in order"


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:24]))
def test_pathological_inputs_finish_quickly_and_lose_nothing(text):
    import time

    started = time.perf_counter()
    segments = split_sentences(text)
    assert time.perf_counter() - started < 5, "segmentation must stay linear-ish in the input"
    assert_covers_exactly(text)
    if "♭" in text:
        assert [s.text for s in segments] == ["Critics call it a ♭ sham.", "China welcomed it."]


def test_nothing_but_invisible_characters_gives_no_segment():
    assert split_sentences("\x00\u200b\u2060\ufeff") == []
    assert texts("\u200bChina welcomed it.\u200b") == ["China welcomed it."]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
@settings(max_examples=300, deadline=2000)
def test_segments_cover_every_visible_character_once_in_order(text):
    assert_covers_exactly(text)


@given(st.lists(st.sampled_from(
    ["China", "welcomed", "the", "plan", ".", "!", "?", "Mr.", "U.S.", "[1]", "[2, 3]", "“", "”", "\n", "♭", "ȸ",
     "BEIJING:", "date 2023-03-17", "e.g.", "...", "(AP)", "—", "\u200b", "\x00", "12", "a.m."]
), max_size=80).map(" ".join))
@settings(max_examples=300, deadline=2000)
def test_news_like_token_soup_is_covered_exactly(text):
    assert_covers_exactly(text)
