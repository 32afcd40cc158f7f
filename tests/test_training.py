"""The training and evaluation steps on a tiny encoder: loadable, deterministic, reported."""

from __future__ import annotations

import json

import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS, LabelSchemaError
from model.predictor import Predictor
from tests.conftest import tiny_train_config


def test_training_saves_a_loadable_two_head_model(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "train_config.json", "metrics.json"} <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["stance_labels"] == list(STANCE_LABELS)
    assert config["frame_labels"] == list(FRAME_LABELS)
    predictor = Predictor.from_directory(tiny_model_dir)
    [prediction] = predictor.predict(["China's plan calls for a ceasefire."])
    assert prediction.stance in STANCE_LABELS and prediction.frame in FRAME_LABELS
    assert set(prediction.stance_scores) == set(STANCE_LABELS)
    assert sum(prediction.frame_scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_metrics_record_data_hash_and_cross_validation(tiny_model_dir):
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert len(metrics["data_hash"]) == 64
    assert metrics["sentences"] == 48
    for head in ("stance", "frame"):
        assert 0.0 <= metrics["cross_validation"][head]["macro_f1"] <= 1.0
        assert metrics["cross_validation"][head]["temperature"] > 0
    oof = [json.loads(line) for line in (tiny_model_dir / "oof_predictions.jsonl").read_text().splitlines()]
    assert len(oof) == 48 and {row["fold"] for row in oof} == {0, 1}


def test_two_tiny_runs_give_identical_weights_and_metrics(tiny_base, tiny_data, tmp_path):
    from training.train import train

    runs = []
    for name in ("first", "second"):
        output_dir = tmp_path / name
        metrics = train(tiny_train_config(tiny_base, tiny_data, output_dir, folds=0))
        metrics.pop("train_seconds")
        runs.append((metrics, (output_dir / "model.safetensors").read_bytes()))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]


def test_a_model_with_other_labels_fails_loudly(tiny_model_dir, tmp_path):
    import shutil

    changed = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, changed)
    config = json.loads((changed / "config.json").read_text())
    config["stance_labels"] = ["pro", "contra", "neutral"]
    (changed / "config.json").write_text(json.dumps(config))
    with pytest.raises(LabelSchemaError, match=r"trained with stance labels \['pro', 'contra', 'neutral'\]"):
        Predictor.from_directory(changed)


def test_registered_model_carries_labels_hash_metrics_seed_and_versions(tiny_base, tiny_data, tmp_path):
    import bentoml

    from training.train import train

    metrics = train(tiny_train_config(tiny_base, tiny_data, tmp_path / "model", folds=0, register=True))
    stored = bentoml.models.get(metrics["tag"])
    assert str(stored.tag).startswith("stanceframe:")
    meta = stored.info.metadata
    assert meta["stance_labels"] == list(STANCE_LABELS) and meta["frame_labels"] == list(FRAME_LABELS)
    assert meta["data_hash"] == metrics["data_hash"]
    assert meta["seed"] == 13
    assert {"torch", "transformers", "bentoml"} <= set(meta["library_versions"])
    assert Predictor.load(metrics["tag"]).model_tag == metrics["tag"]


def test_evaluation_report_and_model_card_have_the_expected_structure(tiny_model_dir, tmp_path):
    from training.evaluate import main

    report_path, card_path = tmp_path / "report.json", tmp_path / "CARD.md"
    argv = ["--model", str(tiny_model_dir), "--report", str(report_path), "--card", str(card_path), "--bootstrap", "20"]
    assert main(argv) == 0
    report = json.loads(report_path.read_text())
    assert {"cross_validation", "team_to_seeds", "seeds_plus_half_team_to_other_half"} <= set(report["evaluations"])
    for evaluation in report["evaluations"].values():
        for head, labels in (("stance", STANCE_LABELS), ("frame", FRAME_LABELS)):
            systems = evaluation["heads"][head]["systems"]
            assert set(systems) == {"model", "majority", "tfidf_logreg"}
            for result in systems.values():
                low, high = result["macro_f1_ci95"]
                assert low <= result["macro_f1"] <= high
                assert set(result["per_class"]) == set(labels)
                matrix = result["confusion_matrix"]["rows_true_columns_predicted"]
                assert sum(map(sum, matrix)) == evaluation["n"]
            assert 0.0 <= evaluation["heads"][head]["calibration"]["ece"] <= 1.0
    card = card_path.read_text()
    for heading in ("## Intended use", "## Known limits", "TF-IDF + logistic regression", "Majority class", "## Calibration"):
        assert heading in card
    assert "Served as torch fp32 (no int8 check recorded)" in card, "the tiny model was trained without ONNX"


def test_the_model_card_names_the_served_precision_and_its_int8_figures():
    from training.model_card import serving_precision

    check = {
        "corpus": "labeled seed sentences", "sentences": 102, "passed": True,
        "stance": {"agreement": 1.0, "macro_f1_change": 0.0},
        "frame": {"agreement": 0.9902, "macro_f1_change": -0.004},
    }
    line = serving_precision(check)
    assert "as ONNX Runtime int8" in line and "102 labeled seed sentences" in line
    assert "frame labels agree on 99.0%, macro-F1 change -0.004" in line
    assert "torch fp32 (int8 failed the check)" in serving_precision(check | {"passed": False})


def test_evaluate_refuses_a_model_trained_on_other_data(tiny_model_dir, tmp_path):
    import shutil

    from training.evaluate import main

    changed = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, changed)
    metrics = json.loads((changed / "metrics.json").read_text())
    metrics["data_hash"] = "0" * 64
    (changed / "metrics.json").write_text(json.dumps(metrics))
    assert main(["--model", str(changed), "--report", str(tmp_path / "r.json"), "--card", str(tmp_path / "c.md")]) == 2
    assert not (tmp_path / "c.md").exists()


def test_stance_prior_shift_is_target_over_training_prior(tiny_base, tiny_data, tmp_path):
    import numpy as np

    from training.data import DataError, load_labeled
    from training.train import stance_logit_bias

    sentences = load_labeled(tiny_data)
    balanced = tiny_train_config(tiny_base, tiny_data, tmp_path, stance_prior=[0.25, 0.25, 0.5])
    assert stance_logit_bias(balanced, sentences) == pytest.approx(np.log([0.75, 0.75, 1.5]))
    unshifted = tiny_train_config(tiny_base, tiny_data, tmp_path, stance_prior=[])
    assert stance_logit_bias(unshifted, sentences).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(DataError, match="needs 3 positive shares"):
        stance_logit_bias(tiny_train_config(tiny_base, tiny_data, tmp_path, stance_prior=[1.0, 0.0]), sentences)


def test_saved_model_applies_its_prior_shift(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["stance_logit_bias"][2] > config["stance_logit_bias"][0]


def test_bucketed_batches_cover_every_row_once_with_similar_lengths():
    import numpy as np

    from training.train import bucketed_batches

    encoded = [[0] * n for n in np.random.default_rng(0).integers(5, 80, 200)]
    batches = bucketed_batches(encoded, 16, np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(200))
    spread = np.mean([np.ptp([len(encoded[i]) for i in batch]) for batch in batches])
    assert spread < 30, "batches should group sentences of similar length"
    again = bucketed_batches(encoded, 16, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again))


def test_training_exports_onnx_and_records_the_int8_check(tiny_base, tiny_data, tmp_path):
    from model.onnx_backend import INT8_CHECK_FILE, ONNX_DIR, ONNX_FILES
    from training.data import SEED_SOURCE, load_labeled
    from training.int8_check import MAX_MACRO_F1_CHANGE, MIN_AGREEMENT
    from training.train import train

    output_dir = tmp_path / "model"
    metrics = train(tiny_train_config(tiny_base, tiny_data, output_dir, folds=0, export_onnx=True))
    assert all((output_dir / ONNX_DIR / name).is_file() for name in ONNX_FILES.values())
    check = json.loads((output_dir / ONNX_DIR / INT8_CHECK_FILE).read_text())
    assert check == metrics["int8_check"]
    seeds = [s for s in load_labeled(tiny_data) if s.source == SEED_SOURCE]
    assert check["sentences"] == len(seeds)
    texts = [s.text for s in seeds]
    fp32 = Predictor.from_directory(output_dir, backend="torch").predict(texts)
    int8 = Predictor.from_directory(output_dir, backend="onnx-int8").predict(texts)
    for head in ("stance", "frame"):
        same = sum(getattr(a, head) == getattr(b, head) for a, b in zip(fp32, int8)) / len(texts)
        assert check[head]["agreement"] == pytest.approx(same, abs=1e-4)
    expected = all(
        check[head]["agreement"] >= MIN_AGREEMENT and abs(check[head]["macro_f1_change"]) <= MAX_MACRO_F1_CHANGE
        for head in ("stance", "frame")
    )
    assert check["passed"] is expected
    assert Predictor.from_directory(output_dir).backend == ("onnx-int8" if expected else "torch")
