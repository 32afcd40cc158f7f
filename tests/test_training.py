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
    assert config["context_mode"] == "headline_previous" and config["context_max_tokens"] == 48
    predictor = Predictor.from_directory(tiny_model_dir)
    [prediction] = predictor.predict(["China's plan calls for a ceasefire."])
    assert prediction.stance in STANCE_LABELS and prediction.frame in FRAME_LABELS
    assert set(prediction.stance_scores) == set(STANCE_LABELS)
    assert sum(prediction.frame_scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_calibration_and_thresholds_are_fitted_on_the_dev_set_and_saved(tiny_model_dir, tiny_dev):
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert len(metrics["data_hash"]) == 64
    assert metrics["sentences"] == 48
    assert metrics["dev"]["sentences"] == len(tiny_dev.read_text().splitlines()) and metrics["dev"]["articles"] == 2
    for head, labels in (("stance", STANCE_LABELS), ("frame", FRAME_LABELS)):
        dev = metrics["dev"][head]
        assert config[f"{head}_temperature"] == pytest.approx(dev["temperature"]) and dev["temperature"] > 0
        assert config[f"{head}_logit_bias"] == pytest.approx(dev["bias"]) and len(dev["bias"]) == len(labels)
        assert config[f"{head}_confidence_threshold"] == pytest.approx(dev["low_confidence_threshold"])
        # The threshold flags about the configured share of the dev predictions (15% of 50 sentences).
        assert 0.1 <= dev["low_confidence_share"] <= 0.2
    assert not (tiny_model_dir / "oof_predictions.jsonl").exists(), "cross-validation belongs to evaluate"


def test_two_tiny_runs_give_identical_weights_and_metrics(tiny_base, tiny_data, tiny_dev, tmp_path):
    from training.train import train

    runs = []
    for name in ("first", "second"):
        output_dir = tmp_path / name
        metrics = train(tiny_train_config(tiny_base, tiny_data, output_dir, tiny_dev))
        metrics.pop("train_seconds")
        metrics.pop("fit_seconds")
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


def test_registered_model_carries_labels_hash_metrics_seed_and_versions(tiny_base, tiny_data, tiny_dev, tmp_path):
    import bentoml

    from training.train import train

    metrics = train(tiny_train_config(tiny_base, tiny_data, tmp_path / "model", tiny_dev, register=True))
    stored = bentoml.models.get(metrics["tag"])
    assert str(stored.tag).startswith("stanceframe:")
    meta = stored.info.metadata
    assert meta["stance_labels"] == list(STANCE_LABELS) and meta["frame_labels"] == list(FRAME_LABELS)
    assert meta["data_hash"] == metrics["data_hash"]
    assert meta["seed"] == 13
    assert meta["metrics"]["dev"]["stance"]["temperature"] == metrics["dev"]["stance"]["temperature"]
    assert {"torch", "transformers", "bentoml"} <= set(meta["library_versions"])
    assert Predictor.load(metrics["tag"]).model_tag == metrics["tag"]


def test_evaluation_report_and_model_card_have_the_expected_structure(tiny_model_dir, tmp_path):
    from training.baselines import BASELINES
    from training.behaviour import build_tests
    from training.evaluate import main

    report_path, card_path = tmp_path / "report.json", tmp_path / "CARD.md"
    argv = ["--model", str(tiny_model_dir), "--report", str(report_path), "--card", str(card_path),
            "--bootstrap", "20", "--folds", "2"]
    assert main(argv) == 0
    report = json.loads(report_path.read_text())
    assert set(report["evaluations"]) == {"dev", "dev_shipped_calibration", "cross_validation"}
    dev = report["evaluations"]["dev"]
    assert dev["n"] == report["dev_sentences"] == 50
    assert report["evaluations"]["cross_validation"]["n"] == report["sentences"] == 48
    for name, evaluation in report["evaluations"].items():
        for head, labels in (("stance", STANCE_LABELS), ("frame", FRAME_LABELS)):
            systems = evaluation["heads"][head]["systems"]
            for result in systems.values():
                low, high = result["macro_f1_ci95"]
                assert low <= result["macro_f1"] <= high
                assert set(result["per_class"]) == set(labels)
                matrix = result["confusion_matrix"]["rows_true_columns_predicted"]
                assert sum(map(sum, matrix)) == evaluation["n"]
            if name.startswith("dev"):
                assert {"ece", "low_confidence_threshold", "low_confidence_share", "accuracy_confident",
                        "accuracy_low_confidence"} <= set(evaluation["heads"][head]["calibration"])
    assert set(BASELINES) | {"model", "model_shipped_calibration", "model_uncalibrated"} == set(
        dev["heads"]["stance"]["systems"]
    )
    assert [b["name"] for b in report["behaviour"]] == [t.name for t in build_tests()]
    card = card_path.read_text()
    for heading in ("## Intended use", "## Known limits", "## Results on unseen sources", "Frozen MiniLM embeddings",
                    "TF-IDF + logistic regression", "Majority class", "## Calibration", "## Behavioural tests",
                    "| stance macro-F1 |", "## cross_validation"):
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
    assert "ONNX Runtime fp32 (int8 failed the check)" in serving_precision(check | {"passed": False})


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


def test_a_bad_option_is_refused_before_any_data_is_read(tmp_path, capsys):
    from training.config import ConfigError, TrainConfig
    from training.train import main

    with pytest.raises(ConfigError, match=r"epochs must be in \[1, 100\], found 0.*context_mode must be one of"):
        TrainConfig(epochs=0, context_mode="paragraph")
    with pytest.raises(ConfigError, match="both training and development data"):
        TrainConfig(data_files=["a.jsonl"], dev_files=["a.jsonl"])
    with pytest.raises(SystemExit) as exit_info:
        main(["--trainable_layers", "9", "--data_files", str(tmp_path / "missing.jsonl")])
    assert exit_info.value.code == 2
    assert "trainable_layers must be in [0, 6], found 9" in capsys.readouterr().err


def test_the_dev_set_must_not_share_articles_with_the_training_data(tiny_base, tiny_data, tmp_path):
    from tests.conftest import SEED_SENTENCES
    from training.data import DataError
    from training.train import train

    config = tiny_train_config(tiny_base, tiny_data, tmp_path / "model", SEED_SENTENCES)
    with pytest.raises(DataError, match="shares articles"):
        train(config)


def test_frozen_bottom_layers_are_cached_and_the_top_ones_trained(tiny_base, tiny_data, tmp_path):
    import torch

    from training.data import contexts_of, load_labeled
    from training.fit import fit, load_tokenizer, new_network

    config = tiny_train_config(tiny_base, tiny_data, tmp_path, trainable_layers=1, max_steps=2)
    sentences = load_labeled(tiny_data)
    tokenizer = load_tokenizer(config)
    trained = fit(sentences, contexts_of(sentences, config.context_mode), tokenizer, config, "frozen", seed=1)
    untouched = new_network(config, seed=1)
    assert torch.equal(trained.bert.encoder.layer[0].output.dense.weight, untouched.bert.encoder.layer[0].output.dense.weight)
    assert torch.equal(trained.bert.embeddings.position_embeddings.weight, untouched.bert.embeddings.position_embeddings.weight)
    assert not torch.equal(trained.bert.encoder.layer[1].output.dense.weight, untouched.bert.encoder.layer[1].output.dense.weight)
    batch = tokenizer(["One sentence.", "A second, longer sentence."], ["Its context.", ""], padding=True, return_tensors="pt")
    with torch.no_grad():
        full = trained(**batch)
        hidden = trained.hidden_after(1, **batch)
        cached = trained.forward_from(1, hidden, batch["attention_mask"], batch["token_type_ids"])
    assert torch.allclose(full.stance_logits, cached.stance_logits, atol=1e-6)
    assert torch.allclose(full.frame_logits, cached.frame_logits, atol=1e-6)


def test_bucketed_batches_cover_every_row_once_with_similar_lengths():
    import numpy as np

    from training.fit import bucketed_batches

    lengths = np.random.default_rng(0).integers(5, 80, 200).tolist()
    batches = bucketed_batches(lengths, 16, np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(200))
    spread = np.mean([np.ptp([lengths[i] for i in batch]) for batch in batches])
    assert spread < 30, "batches should group sentences of similar length"
    again = bucketed_batches(lengths, 16, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again))


def test_training_exports_onnx_and_records_the_int8_check_on_the_dev_set(tiny_base, tiny_data, tiny_dev, tmp_path):
    from model.onnx_backend import INT8_CHECK_FILE, ONNX_DIR, ONNX_FILES
    from training.data import contexts_of, load_labeled
    from training.int8_check import MAX_MACRO_F1_CHANGE, MIN_AGREEMENT
    from training.train import train

    output_dir = tmp_path / "model"
    metrics = train(tiny_train_config(tiny_base, tiny_data, output_dir, tiny_dev, export_onnx=True))
    assert all((output_dir / ONNX_DIR / name).is_file() for name in ONNX_FILES.values())
    check = json.loads((output_dir / ONNX_DIR / INT8_CHECK_FILE).read_text())
    assert check == metrics["int8_check"]
    dev = load_labeled([tiny_dev])
    assert check["sentences"] == len(dev) and check["corpus"] == "development-set sentences"
    texts, contexts = [s.text for s in dev], contexts_of(dev, "headline_previous")
    fp32 = Predictor.from_directory(output_dir, backend="torch").predict(texts, contexts)
    int8 = Predictor.from_directory(output_dir, backend="onnx-int8").predict(texts, contexts)
    for head in ("stance", "frame"):
        same = sum(getattr(a, head) == getattr(b, head) for a, b in zip(fp32, int8)) / len(texts)
        assert check[head]["agreement"] == pytest.approx(same, abs=1e-4)
    expected = all(
        check[head]["agreement"] >= MIN_AGREEMENT and abs(check[head]["macro_f1_change"]) <= MAX_MACRO_F1_CHANGE
        for head in ("stance", "frame")
    )
    assert check["passed"] is expected
    assert Predictor.from_directory(output_dir).backend == ("onnx-int8" if expected else "torch")
    onnx_fp32 = Predictor.from_directory(output_dir, backend="onnx-fp32").probabilities(texts, contexts)
    torch_fp32 = Predictor.from_directory(output_dir, backend="torch").probabilities(texts, contexts)
    assert onnx_fp32.stance == pytest.approx(torch_fp32.stance, abs=1e-4)


def test_an_experiment_fits_scores_the_dev_set_and_logs_one_line(tiny_base, tiny_data, tiny_dev, tmp_path, capsys):
    from training.experiment import main

    log = tmp_path / "experiments.jsonl"
    argv = ["--name", "tiny", "--log", str(log), "--bootstrap", "20", "--config", str(tmp_path / "config.json")]
    config = tiny_train_config(tiny_base, tiny_data, tmp_path / "unused", tiny_dev)
    from dataclasses import asdict

    (tmp_path / "config.json").write_text(json.dumps(asdict(config)))
    assert main(argv + ["--train_fraction", "0.5"]) == 0
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["name"] == "tiny" and record["dev_sentences"] == 50
    assert 0 < record["train_sentences"] < 48
    for head in ("stance", "frame"):
        low, high = record[head]["macro_f1_ci95"]
        assert low <= record[head]["macro_f1"] <= high
    assert "behaviour_failure_rate" in record
