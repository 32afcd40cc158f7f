"""The predictor on a tiny model, and the pure summary and softmax logic."""

from __future__ import annotations

import numpy as np
import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS
from model.predictor import softmax, summarize
from model.schema import Prediction
from tests.conftest import SEED_ARTICLES

SENTENCES = [
    "China will continue to play a constructive role for a ceasefire to stop the war.",
    "Critics say Beijing cannot be an honest broker.",
    "Xi will pay a state visit to Russia from March 20 to 22, the foreign ministry said on Friday after weeks of speculation.",
]


def test_predictions_come_back_in_input_order_whatever_the_batching(tiny_predictor):
    together = tiny_predictor.predict(SENTENCES)
    one_by_one = [tiny_predictor.predict([s])[0] for s in SENTENCES]
    for batched, single in zip(together, one_by_one):
        assert batched.stance == single.stance and batched.frame == single.frame
        for label in STANCE_LABELS:
            assert batched.stance_scores[label] == pytest.approx(single.stance_scores[label], abs=1e-5)


def test_every_prediction_has_full_distributions(tiny_predictor):
    for prediction in tiny_predictor.predict(SENTENCES):
        assert list(prediction.stance_scores) == list(STANCE_LABELS)
        assert list(prediction.frame_scores) == list(FRAME_LABELS)
        assert sum(prediction.stance_scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.stance == max(prediction.stance_scores, key=prediction.stance_scores.get)
        assert prediction.frame == max(prediction.frame_scores, key=prediction.frame_scores.get)
        assert prediction.truncated is False


def test_a_sentence_longer_than_the_window_is_truncated_and_flagged(tiny_predictor):
    long_sentence = " ".join(["The envoy met officials in several European capitals"] * 40) + "."
    short, long = tiny_predictor.predict([SENTENCES[0], long_sentence])
    assert long.truncated is True and short.truncated is False
    from model.encoding import encode

    encoded = encode(tiny_predictor.tokenizer, [long_sentence], ["Some context."], tiny_predictor.max_length, 48)
    [ids] = encoded.input_ids
    assert len(ids) == tiny_predictor.max_length and ids[-1] == tiny_predictor.tokenizer.sep_token_id
    assert encoded.token_type_ids == [[0] * len(ids)], "no room is left for context"
    assert encoded.truncated.tolist() == [True]


def test_no_sentences_gives_no_predictions(tiny_predictor):
    assert tiny_predictor.predict([]) == []


def test_analyze_returns_offsets_into_the_text_and_a_consistent_summary(tiny_predictor):
    text = SEED_ARTICLES[1].read_text(encoding="utf-8")
    analysis = tiny_predictor.analyze(text)
    assert analysis.model == "stanceframe:tiny"
    assert [s.index for s in analysis.sentences] == list(range(len(analysis.sentences)))
    for sentence in analysis.sentences:
        assert text[sentence.start : sentence.end] == sentence.text
    summary = analysis.summary
    assert summary.sentences == len(analysis.sentences)
    assert sum(summary.stance_counts.values()) == summary.sentences
    assert sum(summary.stance_shares.values()) == pytest.approx(1.0)
    assert summary.net_stance == pytest.approx(summary.stance_shares["supportive"] - summary.stance_shares["skeptical"])


def prediction(stance: str, frame: str) -> Prediction:
    stance_scores = {label: (1.0 if label == stance else 0.0) for label in STANCE_LABELS}
    frame_scores = {label: (1.0 if label == frame else 0.0) for label in FRAME_LABELS}
    return Prediction(stance=stance, stance_scores=stance_scores, frame=frame, frame_scores=frame_scores,
                      low_confidence=False, truncated=False)


def test_summary_counts_shares_net_stance_and_dominant_frames():
    summary = summarize(
        [
            prediction("supportive", "peace_process"),
            prediction("supportive", "diplomacy"),
            prediction("skeptical", "peace_process"),
            prediction("neutral", "diplomacy"),
        ]
    )
    assert summary.stance_counts == {"supportive": 2, "skeptical": 1, "neutral": 1}
    assert summary.stance_shares["supportive"] == 0.5
    assert summary.net_stance == 0.25
    assert summary.dominant_frames == ["peace_process", "diplomacy"]
    assert summary.mean_frame_scores["peace_process"] == 0.5


def test_summary_of_nothing_is_all_zero():
    summary = summarize([])
    assert summary.sentences == 0 and summary.net_stance == 0.0 and summary.dominant_frames == []


def test_temperature_flattens_the_distribution():
    logits = np.array([[2.0, 0.0, -1.0]])
    sharp, flat = softmax(logits, 1.0), softmax(logits, 3.0)
    assert sharp.sum() == pytest.approx(1.0) and flat.sum() == pytest.approx(1.0)
    assert flat.max() < sharp.max()
    assert flat.argmax() == sharp.argmax()


def test_a_prior_shift_moves_probability_toward_the_favoured_class():
    logits = np.array([[1.0, 1.0, 1.0]])
    shifted = softmax(logits, 1.0, np.log([1 / 6, 1 / 6, 2 / 3]))
    assert shifted[0] == pytest.approx([1 / 6, 1 / 6, 2 / 3])


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx-int8"])
def test_onnx_backends_match_the_torch_predictions(tiny_onnx_model_dir, backend):
    from model.predictor import Predictor

    reference = Predictor.from_directory(tiny_onnx_model_dir, backend="torch").predict(SENTENCES)
    onnx = Predictor.from_directory(tiny_onnx_model_dir, backend=backend)
    assert onnx.backend == backend
    predictions = onnx.predict(SENTENCES)
    # fp32 is the same graph; int8 weights move the probabilities a little.
    tolerance = 1e-4 if backend == "onnx-fp32" else 0.05
    for got, want in zip(predictions, reference):
        assert got.stance_scores == pytest.approx(want.stance_scores, abs=tolerance)
        assert got.frame_scores == pytest.approx(want.frame_scores, abs=tolerance)


def test_an_onnx_backend_without_an_export_fails_with_the_fix(tiny_model_dir):
    from model.onnx_backend import MissingOnnxError
    from model.predictor import Predictor

    with pytest.raises(MissingOnnxError, match="Retrain with `stanceframe train`"):
        Predictor.from_directory(tiny_model_dir, backend="onnx-int8")
    with pytest.raises(ValueError, match="Unknown backend 'gpu'"):
        Predictor.from_directory(tiny_model_dir, backend="gpu")


def test_auto_backend_is_int8_only_when_the_int8_check_passed(tiny_onnx_model_dir, tiny_model_dir, tmp_path):
    import json
    import shutil

    from model.onnx_backend import INT8_CHECK_FILE, ONNX_DIR
    from model.predictor import Predictor

    folder = shutil.copytree(tiny_onnx_model_dir, tmp_path / "model")
    assert Predictor.from_directory(folder).backend == "onnx-fp32", "no check on file: fp32"
    check = folder / ONNX_DIR / INT8_CHECK_FILE
    check.write_text(json.dumps({"passed": False}))
    assert Predictor.from_directory(folder).backend == "onnx-fp32"
    check.write_text(json.dumps({"passed": True}))
    assert Predictor.from_directory(folder).backend == "onnx-int8"
    assert Predictor.from_directory(folder, backend="torch").backend == "torch", "an explicit backend wins"
    assert Predictor.from_directory(tiny_model_dir).backend == "torch", "no ONNX export: torch"


def test_the_export_check_refuses_an_onnx_file_that_differs_from_torch(tiny_onnx_model_dir):
    import torch
    from transformers import AutoTokenizer

    from model.network import StanceFrameModel
    from model.onnx_backend import ONNX_DIR, ONNX_FILES, check_export

    onnx_file = tiny_onnx_model_dir / ONNX_DIR / ONNX_FILES["onnx-fp32"]
    network = StanceFrameModel.from_pretrained(tiny_onnx_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_onnx_model_dir)
    check_export(onnx_file, network, tokenizer)
    with torch.no_grad():
        network.frame_head.bias += 0.01
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_export(onnx_file, network, tokenizer)


TORCH_BLOCKED = """
import json, sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from model.predictor import Predictor
predictor = Predictor.from_directory(sys.argv[1], backend=sys.argv[2])
result = predictor.probabilities(json.loads(sys.argv[3]), json.loads(sys.argv[4]))
loaded = sorted(name for name, module in sys.modules.items()
                if module is not None and name.startswith(("torch", "transformers.models.bert.modeling")))
print(json.dumps({"stance": result.stance.tolist(), "loaded": loaded}))
"""


@pytest.mark.parametrize("backend", ["onnx-int8", "onnx-fp32"])
def test_the_onnx_backends_serve_without_torch(tiny_onnx_model_dir, backend):
    import json
    import subprocess
    import sys

    from model.predictor import Predictor
    from tests.conftest import PROJECT_DIR

    contexts = ["Beijing published a plan.", "", "Talks resumed."]
    run = subprocess.run(
        [sys.executable, "-c", TORCH_BLOCKED, str(tiny_onnx_model_dir), backend, json.dumps(SENTENCES),
         json.dumps(contexts)],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    expected = Predictor.from_directory(tiny_onnx_model_dir, backend="torch").probabilities(SENTENCES, contexts)
    assert np.asarray(found["stance"]) == pytest.approx(expected.stance, abs=2e-2 if backend == "onnx-int8" else 1e-4)


def test_the_torch_backend_without_torch_names_the_fix(tiny_model_dir):
    import subprocess
    import sys

    from tests.conftest import PROJECT_DIR

    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from model.predictor import Predictor\n"
        "Predictor.from_directory(sys.argv[1], backend='torch')\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir)], capture_output=True, text=True,
                         cwd=PROJECT_DIR, timeout=120)
    assert run.returncode != 0
    assert "Use the onnx-fp32 or onnx-int8 backend" in run.stderr
