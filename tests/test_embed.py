"""Pooled sentence embeddings (`Predictor.embed`) on every backend, and models exported without them."""

from __future__ import annotations

import numpy as np
import pytest

SENTENCES = [
    "China will continue to play a constructive role for a ceasefire to stop the war.",
    "Critics say Beijing cannot be an honest broker.",
    "Xi will pay a state visit to Russia from March 20 to 22, the foreign ministry said on Friday.",
]
CONTEXTS = ["Beijing published a plan.", "", "Talks resumed."]


def torch_pooled(model_dir, sentences, contexts):
    """The network's own mean-pooled representation, computed directly with torch and normalised."""
    import torch
    from transformers import AutoTokenizer

    from model.network import StanceFrameModel

    network = StanceFrameModel.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    for sentence, context in zip(sentences, contexts):
        batch = tokenizer([sentence], [context] if context else None, return_tensors="pt")
        with torch.inference_mode():
            rows.append(network.pooled(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])[0].numpy())
    pooled = np.stack(rows)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["torch", "onnx-fp32", "onnx-int8"])
def test_embed_gives_normalised_pooled_embeddings_in_input_order(tiny_onnx_model_dir, backend):
    from model.predictor import Predictor

    predictor = Predictor.from_directory(tiny_onnx_model_dir, backend=backend, batch_size=2)
    embeddings = predictor.embed(SENTENCES, CONTEXTS)
    assert embeddings.dtype == np.float32 and embeddings.shape == (3, predictor.config.hidden_size)
    assert np.linalg.norm(embeddings, axis=1) == pytest.approx(1.0, abs=1e-5)
    expected = torch_pooled(tiny_onnx_model_dir, SENTENCES, CONTEXTS)
    # The same vectors as the network's pooling (int8 weights move them a little), row by row.
    cosines = (embeddings * expected).sum(axis=1)
    assert cosines == pytest.approx(1.0, abs=1e-4 if backend != "onnx-int8" else 2e-2)
    assert predictor.embed([]).shape == (0, predictor.config.hidden_size)


def test_predict_and_embed_is_predict_and_embed_in_one_pass(tiny_onnx_model_dir):
    from model.predictor import Predictor

    predictor = Predictor.from_directory(tiny_onnx_model_dir, backend="onnx-fp32")
    predictions, embeddings = predictor.predict_and_embed(SENTENCES, CONTEXTS)
    assert [p.model_dump() for p in predictions] == [p.model_dump() for p in predictor.predict(SENTENCES, CONTEXTS)]
    assert embeddings == pytest.approx(predictor.embed(SENTENCES, CONTEXTS), abs=1e-6)


def without_pooled_output(model_dir, target):
    """A copy of `model_dir` whose ONNX files lack the pooled output, as exported before it existed."""
    import shutil

    import onnx

    from model.onnx_backend import ONNX_DIR, ONNX_FILES, POOLED_NAME

    shutil.copytree(model_dir, target)
    for name in ONNX_FILES.values():
        path = target / ONNX_DIR / name
        graph = onnx.load(str(path))
        [pooled] = [output for output in graph.graph.output if output.name == POOLED_NAME]
        graph.graph.output.remove(pooled)
        onnx.save(graph, str(path))
    return target


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx-int8"])
def test_a_model_exported_without_the_pooled_output_predicts_but_refuses_to_embed(
    tiny_onnx_model_dir, tmp_path, backend
):
    from model.predictor import EmbeddingsUnavailable, Predictor

    old = Predictor.from_directory(without_pooled_output(tiny_onnx_model_dir, tmp_path / "old"), backend=backend)
    current = Predictor.from_directory(tiny_onnx_model_dir, backend=backend)
    assert [p.stance_scores for p in old.predict(SENTENCES)] == [p.stance_scores for p in current.predict(SENTENCES)]
    with pytest.raises(EmbeddingsUnavailable, match="exported before the pooled .* Retrain with `stanceframe train`"):
        old.embed(SENTENCES)
