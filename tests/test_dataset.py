"""The labeled corpus as a Hugging Face dataset: features from the label schema, the examples training had, the export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS
from tests.conftest import read_jsonl, tiny_train_config, write_jsonl
from training.config import DEFAULT_CONFIG, project_path
from training.data import contexts_of, duplicate_clusters, load_labeled
from training.dataset import (
    COLUMNS,
    clusters_in,
    config_from_file,
    contexts_in,
    corpus_features,
    load_corpus,
    main,
    sentences_of,
)


def test_features_are_the_label_schema_of_model_labels():
    features = corpus_features()
    assert features["stance"].names == list(STANCE_LABELS)
    assert features["frame"].names == list(FRAME_LABELS)
    assert list(features) == list(COLUMNS)


def test_the_corpus_gives_training_exactly_the_examples_the_labeled_files_give():
    """The shipped config, read through the dataset, yields the rows, order, contexts and clusters of the JSONL loaders."""
    config = config_from_file(DEFAULT_CONFIG)
    corpus = load_corpus(config)
    for split, files in (("train", config.data_files), ("dev", config.dev_files)):
        expected = load_labeled([project_path(p) for p in files])
        assert sentences_of(corpus[split]) == expected
        assert contexts_in(corpus[split], config.context_mode) == contexts_of(expected, config.context_mode)
        assert np.array_equal(clusters_in(corpus[split]), duplicate_clusters(expected))
    assert len(corpus["train"]) > 7000 and len(corpus["dev"]) == 789


def test_limit_and_a_context_free_mode_read_as_training_did(tiny_base, tiny_data, tiny_dev, tmp_path):
    config = tiny_train_config(tiny_base, tiny_data, tmp_path / "model", tiny_dev, limit=10, context_mode="none")
    corpus = load_corpus(config)
    assert [s.id for s in sentences_of(corpus["train"])] == [s.id for s in load_labeled(tiny_data)[:10]]
    assert contexts_in(corpus["train"], "none") is None


def test_an_imported_row_keeps_its_context_and_provenance(tmp_path):
    row = {
        "id": "imp-1", "text": "Kyiv rejected the plan outright.", "context": "Headline. Previous sentence.",
        "stance": "skeptical", "frame": "peace_process", "source": "ls-batch-1", "annotator": "ann@example.org",
        "imported_at": "2026-01-02T03:04:05+00:00", "export_file": "export.json",
    }
    data = write_jsonl(tmp_path / "imported.jsonl", [row])
    config = tiny_train_config(tmp_path, [data], tmp_path / "model", context_mode="previous")
    split = load_corpus(config)["train"]
    assert split[0]["context"] == row["context"] and split[0]["annotator"] == "ann@example.org"
    assert split.features["stance"].int2str(split[0]["stance"]) == "skeptical"
    assert contexts_of(sentences_of(split), "previous") == [row["context"]]


def test_export_dataset_writes_arrow_parquet_and_a_card_that_datasets_loads(tiny_base, tiny_data, tiny_dev, tmp_path):
    import datasets

    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({
        "data_files": [str(p) for p in tiny_data], "dev_files": [str(tiny_dev)], "context_mode": "headline_previous",
    }))
    folder = tmp_path / "export"
    assert main([str(folder), "--config", str(config_file)]) == 0
    from_disk = datasets.load_from_disk(str(folder))
    from_parquet = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    n_train = sum(len(read_jsonl(p)) for p in tiny_data)
    for loaded in (from_disk, from_parquet):
        assert {name: len(split) for name, split in loaded.items()} == {"train": n_train, "dev": len(read_jsonl(tiny_dev))}
        assert loaded["train"].features == corpus_features()
    assert from_parquet["dev"]["text"] == from_disk["dev"]["text"]
    card = (folder / "README.md").read_text()
    assert "'2': neutral" in card and f"'{len(FRAME_LABELS) - 1}': {FRAME_LABELS[-1]}" in card
    assert "path: parquet/train.parquet" in card
    # A second export replaces the first; a folder that is not an export is refused.
    assert main([str(folder), "--config", str(config_file)]) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "other"), "--config", str(config_file)])
    assert exit_info.value.code == 2 and (tmp_path / "other" / "notes.txt").exists()
