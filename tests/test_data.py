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
    ARTICLE_SENTENCES,
    CONTRAST_PAIRS,
    DATA_DIR,
    DEV_SENTENCES,
    DataError,
    LabeledSentence,
    annotation_agreement,
    contexts_of,
    duplicate_clusters,
    grouped_folds,
    load_labeled,
)

ARTICLE_FILES = {"train": (ARTICLE_SENTENCES, DATA_DIR / "articles"), "dev": (DEV_SENTENCES, DATA_DIR / "dev" / "articles")}

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


@pytest.mark.parametrize("split", sorted(ARTICLE_FILES))
def test_article_rows_slice_their_article_and_cover_all_of_it(split):
    sentences_file, folder = ARTICLE_FILES[split]
    rows = read_jsonl(sentences_file)
    articles = {p.stem: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")}
    metadata = {row["article"]: row for row in read_jsonl(folder.parent / "articles.jsonl")}
    assert set(metadata) == set(articles) == {row["article"] for row in rows}
    covered = {name: [False] * len(text) for name, text in articles.items()}
    for row in rows:
        assert row["source"] == "team-written" and row["id"] == f"{row['article']}#{row['id'].split('#')[1]}"
        assert articles[row["article"]][row["start"] : row["end"]] == row["text"]
        covered[row["article"]][row["start"] : row["end"]] = [True] * (row["end"] - row["start"])
    for name, text in articles.items():
        assert metadata[name]["sentences"] == sum(row["article"] == name for row in rows)
        uncovered = "".join(ch for ch, seen in zip(text, covered[name]) if not seen)
        assert not uncovered.strip(), f"{name}: text outside every labeled sentence: {uncovered.strip()[:80]!r}"


@pytest.mark.parametrize("split", sorted(ARTICLE_FILES))
def test_every_article_row_has_two_passes_and_disagreements_were_adjudicated(split):
    for row in read_jsonl(ARTICLE_FILES[split][0]):
        a, b = row["annotations"]["A"], row["annotations"]["B"]
        assert a[0] in STANCE_LABELS and b[0] in STANCE_LABELS and a[1] in FRAME_LABELS and b[1] in FRAME_LABELS
        assert row["adjudicated"] is (a != b)
        if a == b:
            assert [row["stance"], row["frame"]] == a


def test_the_development_set_shares_no_article_writer_or_sentence_with_the_training_data():
    train = load_labeled([SEED_SENTENCES, TEAM_WRITTEN, ARTICLE_SENTENCES, CONTRAST_PAIRS])
    dev = load_labeled([DEV_SENTENCES])
    assert not {s.article for s in train} & {s.article for s in dev}
    # Independent writers do produce the same datelines, speaker tags and stock lines
    # ("AFP:", "BEIJING:", an outlet's disclaimer), and nothing more.
    shared = {s.text for s in train} & {s.text for s in dev}
    assert len(shared) < 0.03 * len(dev), shared
    train_writers = {row["writer"] for row in read_jsonl(ARTICLE_SENTENCES)}
    dev_writers = {row["writer"] for row in read_jsonl(DEV_SENTENCES)}
    assert train_writers and dev_writers and not train_writers & dev_writers


def test_contrast_pairs_are_pairs_with_two_passes_and_one_cluster_each():
    rows = read_jsonl(CONTRAST_PAIRS)
    pairs: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        pairs[row["group"]].append(row)
        a, b = row["annotations"]["A"], row["annotations"]["B"]
        assert row["adjudicated"] is (a != b) and row["source"] == "team-written"
        if a == b:
            assert [row["stance"], row["frame"]] == a
    assert all(len(members) == 2 for members in pairs.values())
    assert all(members[0]["intended"] != members[1]["intended"] for members in pairs.values()), (
        "the writer meant the two sentences of a pair to differ in a label"
    )
    sentences = load_labeled([CONTRAST_PAIRS])
    clusters = duplicate_clusters(sentences)
    assert len(np.unique(clusters)) <= len(pairs)


def test_contexts_come_from_the_same_article_in_order():
    sentences = load_labeled([SEED_SENTENCES])[:5]
    contexts = contexts_of(sentences, "headline_previous")
    assert contexts[0] == "" and contexts[1] == sentences[0].text
    assert contexts[3] == f"{sentences[0].text} {sentences[2].text}"
    assert contexts_of(sentences, "none") is None
    isolated = load_labeled([TEAM_WRITTEN])[:2]
    assert contexts_of(isolated, "previous") == ["", ""]


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


def test_data_card_counts_and_agreement_match_the_files():
    card = (PROJECT_DIR / "training" / "data" / "README.md").read_text()
    files = {
        "seed": read_jsonl(SEED_SENTENCES), "team": read_jsonl(TEAM_WRITTEN),
        "articles": read_jsonl(ARTICLE_SENTENCES), "contrast": read_jsonl(CONTRAST_PAIRS),
        "dev": read_jsonl(DEV_SENTENCES),
    }
    for head, labels in (("stance", STANCE_LABELS), ("frame", FRAME_LABELS)):
        for label in labels:
            counts = " | ".join(str(sum(r[head] == label for r in rows)) for rows in files.values())
            assert f"| {label} | {counts} |" in card
    for name in ("articles", "contrast", "dev"):
        agreement = annotation_agreement(files[name])
        for head in ("stance", "frame"):
            assert f"| {name} | {head} | {agreement[head]['kappa']:.3f} | {agreement[head]['agreement']:.3f} |" in card
