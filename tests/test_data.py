"""The labeled data files are valid and duplicate clusters never straddle a fold."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS
from model.segment import split_sentences
from tests.conftest import (
    PROJECT_DIR,
    SEED_SENTENCES,
    TEAM_WRITTEN,
    read_jsonl,
    write_jsonl,
)
from training.data import (
    DataError,
    LabeledSentence,
    duplicate_clusters,
    grouped_folds,
    load_labeled,
)

SEED_FIELDS = ["id", "article", "start", "end", "text", "stance", "frame"]


def test_seed_rows_have_the_schema_and_slice_their_article_exactly():
    rows = read_jsonl(SEED_SENTENCES)
    articles = {p.stem: p.read_text(encoding="utf-8") for p in (PROJECT_DIR / "training/data/seeds").glob("*.txt")}
    assert len(articles) == 5
    for row in rows:
        assert list(row) == SEED_FIELDS
        assert row["stance"] in STANCE_LABELS and row["frame"] in FRAME_LABELS
        assert articles[row["article"]][row["start"] : row["end"]] == row["text"]


def test_seed_rows_are_exactly_the_product_segmentation_of_every_article():
    rows = read_jsonl(SEED_SENTENCES)
    for article, text in ((p.stem, p.read_text(encoding="utf-8")) for p in (PROJECT_DIR / "training/data/seeds").glob("*.txt")):
        expected = [(s.start, s.end) for s in split_sentences(text)]
        assert [(r["start"], r["end"]) for r in rows if r["article"] == article] == expected


def test_team_written_rows_are_marked_and_labeled_in_the_schema():
    rows = read_jsonl(TEAM_WRITTEN)
    assert len(rows) >= 300
    for row in rows:
        assert row["source"] == "team-written"
        assert row["id"].startswith("tw-")
        assert row["stance"] in STANCE_LABELS and row["frame"] in FRAME_LABELS
        assert row["text"].strip() == row["text"] and row["text"]


def test_identical_texts_carry_identical_labels_across_all_files():
    labels = defaultdict(set)
    for sentence in load_labeled([SEED_SENTENCES, TEAM_WRITTEN]):
        labels[sentence.text].add((sentence.stance, sentence.frame))
    assert {text: found for text, found in labels.items() if len(found) > 1} == {}


def test_no_duplicate_cluster_is_split_between_train_and_test():
    sentences = load_labeled([SEED_SENTENCES, TEAM_WRITTEN])
    clusters = duplicate_clusters(sentences)
    # The seeds repeat whole paragraphs: there must be fewer clusters than seed sentences.
    seed_rows = np.array([s.source == "seed_sentences" for s in sentences])
    assert len(np.unique(clusters[seed_rows])) < seed_rows.sum()
    for train_rows, test_rows in grouped_folds(sentences, clusters, n_folds=5, seed=13):
        assert not set(clusters[train_rows]) & set(clusters[test_rows])


def sentence(id_: str, text: str, group: str | None = None) -> LabeledSentence:
    return LabeledSentence(id_, text, "neutral", "diplomacy", "test", group)


def test_near_duplicates_and_shared_groups_join_one_cluster():
    sentences = [
        sentence("a", "Ukrainian President Volodymyr Zelensky said he would study the document closely."),
        sentence("b", "Ukrainian President Volodymyr Zelenskyy said he would study the document closely."),
        sentence("c", "Trade between the two countries has soared since the invasion."),
        sentence("d", "A completely different sentence about grain.", group="g1"),
        sentence("e", "Another unrelated line on nuclear safety.", group="g1"),
    ]
    clusters = duplicate_clusters(sentences)
    assert clusters[0] == clusters[1]
    assert clusters[3] == clusters[4]
    assert len({clusters[0], clusters[2], clusters[3]}) == 3


def test_a_label_outside_the_schema_is_rejected_with_the_expected_set(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "text": "A sentence.", "stance": "positive", "frame": "other"}])
    with pytest.raises(DataError, match=r"stance label 'positive'.*expected one of \['supportive'"):
        load_labeled([path])


def test_duplicate_ids_and_broken_json_are_rejected(tmp_path):
    row = {"id": "x", "text": "A sentence.", "stance": "neutral", "frame": "other"}
    with pytest.raises(DataError, match="already used"):
        load_labeled([write_jsonl(tmp_path / "dup.jsonl", [row, row])])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(DataError, match="broken.jsonl:2: invalid JSON"):
        load_labeled([broken])


def test_data_card_counts_match_the_files():
    card = (PROJECT_DIR / "training" / "data" / "README.md").read_text()
    seeds, team = read_jsonl(SEED_SENTENCES), read_jsonl(TEAM_WRITTEN)
    for head, labels in (("stance", STANCE_LABELS), ("frame", FRAME_LABELS)):
        for label in labels:
            count_seed = sum(r[head] == label for r in seeds)
            count_team = sum(r[head] == label for r in team)
            assert f"| {label} | {count_seed} | {count_team} |" in card
