"""Nearest labeled examples: the index built in training, its checks, and neighbours from the predictor."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS


def training_sentences(tiny_data, context_mode="headline_previous"):
    from training.data import contexts_of, load_labeled

    sentences = load_labeled(tiny_data)
    return sentences, contexts_of(sentences, context_mode)


def test_a_training_sentence_finds_itself_first_at_similarity_one(tiny_model_dir, tiny_data):
    from model.explain import explain
    from model.predictor import Predictor

    sentences, contexts = training_sentences(tiny_data)
    predictor = Predictor.from_directory(tiny_model_dir)
    # An article sentence with its context, and an isolated one.
    picked = [next(i for i, s in enumerate(sentences) if s.article and contexts[i]),
              next(i for i, s in enumerate(sentences) if not s.article)]
    explained = explain(predictor, [sentences[i].text for i in picked], [contexts[i] for i in picked], neighbours=3)
    for i, explanation in zip(picked, explained):
        first = explanation.neighbours[0]
        assert (first.id, first.text, first.stance, first.frame) == (
            sentences[i].id, sentences[i].text, sentences[i].stance, sentences[i].frame
        )
        assert first.similarity == pytest.approx(1.0, abs=1e-3)
        assert len(explanation.neighbours) == 3
        similarities = [n.similarity for n in explanation.neighbours]
        assert similarities == sorted(similarities, reverse=True) and similarities[-1] < 0.9999
        assert explanation.stance in STANCE_LABELS and explanation.attributions is None


def test_the_index_holds_the_training_sentences_and_not_the_development_set(tiny_model_dir, tiny_data, tiny_dev):
    from model.neighbours import INDEX_DIR, ROWS_FILE
    from training.data import load_labeled

    document = json.loads((tiny_model_dir / INDEX_DIR / ROWS_FILE).read_text())
    assert [row["id"] for row in document["rows"]] == [s.id for s in load_labeled(tiny_data)]
    assert not {row["id"] for row in document["rows"]} & {s.id for s in load_labeled([tiny_dev])}
    assert document["stance_labels"] == list(STANCE_LABELS) and document["frame_labels"] == list(FRAME_LABELS)


def test_every_backend_finds_a_training_sentence_at_similarity_one_with_its_own_embeddings(
    tiny_onnx_model_dir, tiny_data, tmp_path
):
    from model.explain import explain
    from model.neighbours import NeighbourIndex
    from model.predictor import Predictor
    from training.neighbour_index import build_neighbour_index

    folder = shutil.copytree(tiny_onnx_model_dir, tmp_path / "model")
    sentences, contexts = training_sentences(tiny_data)
    summary = build_neighbour_index(folder, sentences, contexts)
    assert summary["precisions"] == {"fp32": "onnx-fp32", "int8": "onnx-int8"}
    for backend in ("torch", "onnx-fp32", "onnx-int8"):
        predictor = Predictor.from_directory(folder, backend=backend)
        [explanation] = explain(predictor, [sentences[5].text], [contexts[5]], neighbours=1)
        assert explanation.neighbours[0].id == sentences[5].id
        assert explanation.neighbours[0].similarity == pytest.approx(1.0, abs=1e-3), backend
    assert len(NeighbourIndex.load(folder, "onnx-int8")) == len(sentences)


def test_the_index_refuses_to_load_for_other_labels_or_other_weights(tiny_model_dir, tmp_path):
    from safetensors.numpy import load_file, save_file

    from model.neighbours import INDEX_DIR, ROWS_FILE, WEIGHTS_FILE, NeighbourIndex, NeighbourIndexError

    NeighbourIndex.load(tiny_model_dir, "torch")
    relabeled = shutil.copytree(tiny_model_dir, tmp_path / "relabeled")
    rows_file = relabeled / INDEX_DIR / ROWS_FILE
    document = json.loads(rows_file.read_text())
    document["frame_labels"] = document["frame_labels"][::-1]
    rows_file.write_text(json.dumps(document))
    with pytest.raises(NeighbourIndexError, match="frame labels .* Retrain with `stanceframe train`"):
        NeighbourIndex.load(relabeled, "torch")

    retrained = shutil.copytree(tiny_model_dir, tmp_path / "retrained")
    weights = load_file(str(retrained / WEIGHTS_FILE))
    weights["stance_head.bias"] = weights["stance_head.bias"] + np.float32(0.01)
    save_file(weights, str(retrained / WEIGHTS_FILE), metadata={"format": "pt"})
    with pytest.raises(NeighbourIndexError, match="built for other weights"):
        NeighbourIndex.load(retrained, "torch")

    untrained = tmp_path / "untrained"
    shutil.copytree(tiny_model_dir, untrained, ignore=shutil.ignore_patterns(INDEX_DIR))
    with pytest.raises(NeighbourIndexError, match="has no neighbour index .* Retrain with `stanceframe train`"):
        NeighbourIndex.load(untrained, "torch")


def test_search_returns_the_k_most_similar_rows_most_similar_first():
    from model.neighbours import NeighbourIndex

    angles = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    embeddings = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    rows = [{"id": f"r{i}", "text": f"sentence {i}"} for i in range(5)]
    index = NeighbourIndex(embeddings, rows, np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 3, 4]))
    query = np.array([[np.cos(0.9), np.sin(0.9)]], dtype=np.float32)
    [found] = index.search(query, 3)
    assert [n.id for n in found] == ["r2", "r1", "r0"]
    assert [n.stance for n in found] == ["neutral", "skeptical", "supportive"]
    assert found[0].similarity == pytest.approx(np.cos(0.1), abs=1e-6)
    assert [len(hits) for hits in index.search(np.repeat(query, 2, axis=0), 50)] == [5, 5]
    assert index.search(query, 0) == [[]]


EXPLAIN_WITHOUT_TORCH = """
import json, sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from model.explain import explain
from model.predictor import Predictor
predictor = Predictor.from_directory(sys.argv[1], backend="onnx-fp32")
[explained] = explain(predictor, [sys.argv[2]], None, neighbours=2, with_attributions=True)
print(json.dumps(explained.model_dump()))
"""


def test_explanations_run_on_the_onnx_backend_without_torch(tiny_onnx_model_dir, tiny_data):
    import subprocess
    import sys

    from tests.conftest import PROJECT_DIR

    sentences, _ = training_sentences(tiny_data)
    known = next(s for s in sentences if not s.article)
    run = subprocess.run([sys.executable, "-c", EXPLAIN_WITHOUT_TORCH, str(tiny_onnx_model_dir), known.text],
                         capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    explained = json.loads(run.stdout.strip().splitlines()[-1])
    assert explained["neighbours"][0]["id"] == known.id
    assert explained["attributions"] and all(
        known.text[w["start"] : w["end"]] == w["token"] for w in explained["attributions"]
    )
