"""Metric helpers agree with scikit-learn and behave at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.metrics import classification_report, expected_calibration_error, macro_f1


def test_f1_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(0)
    for _ in range(50):
        truth, predicted = rng.integers(0, 8, 40), rng.integers(0, 8, 40)
        present = np.union1d(truth, predicted)
        assert macro_f1(truth, predicted) == pytest.approx(
            f1_score(truth, predicted, labels=present, average="macro", zero_division=0)
        )
        report = classification_report(truth, predicted, [str(i) for i in range(8)], np.arange(40), seed=0, samples=5)
        expected = f1_score(truth, predicted, labels=list(range(8)), average=None, zero_division=0)
        assert [report["per_class"][str(i)]["f1"] for i in range(8)] == pytest.approx(expected.tolist())


def test_bootstrap_interval_brackets_the_point_estimate_and_counts_add_up():
    truth = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    predicted = np.array([0, 1, 1, 1, 2, 0, 0, 1])
    report = classification_report(truth, predicted, ["a", "b", "c"], np.arange(8), seed=1, samples=200)
    low, high = report["macro_f1_ci95"]
    assert low <= report["macro_f1"] <= high
    assert np.array(report["confusion_matrix"]["rows_true_columns_predicted"]).sum() == 8
    assert report["per_class"]["a"]["support"] == 3


def test_expected_calibration_error_is_zero_when_confidence_equals_accuracy():
    probabilities = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probabilities, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(probabilities, np.array([1, 1, 1, 1])) == pytest.approx(0.75)


def test_calibration_recovers_the_temperature_of_overconfident_float32_logits():
    from training.calibration import fit_calibration

    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2.0
    labels = np.array([rng.choice(3, p=np.exp(row) / np.exp(row).sum()) for row in true_logits])
    # The network's logits are float32 and three times too sharp.
    calibration = fit_calibration((true_logits * 3.0).astype(np.float32), labels)
    assert calibration.temperature == pytest.approx(3.0, rel=0.1)
    assert np.abs(calibration.bias).max() < 0.2
