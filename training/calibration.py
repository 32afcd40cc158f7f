"""Calibration under shift, fitted on the development set.

Per head, a temperature and a logit bias (vector scaling's bias with a shared scale):
the temperature corrects over-confidence, the bias corrects the class prior that the
class-balanced training loss assumes to the prior of news-like text (Saerens et al.,
2002, without assuming the target prior is known). Both are fitted by minimising the
negative log-likelihood of the development labels. The low-confidence threshold of a head
flags its least confident `share` of development predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.metrics import expected_calibration_error

# L2 penalty on the bias, per unit of mean NLL: keeps rare classes' biases finite.
BIAS_PENALTY = 1e-3


@dataclass(frozen=True)
class HeadCalibration:
    temperature: float
    bias: list[float]


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> HeadCalibration:
    """Temperature and bias minimising the NLL of `labels` under softmax(logits / T + b)."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    # float64: with float32 logits, the optimizer's finite-difference step in the temperature
    # is below float32 resolution, so the temperature never moves from 1.
    logits = np.asarray(logits, dtype=np.float64)
    n_classes = logits.shape[1]
    rows = np.arange(len(labels))

    def objective(params: np.ndarray) -> float:
        scaled = log_softmax(logits * math.exp(-params[0]) + params[1:], axis=1)
        return float(-scaled[rows, labels].mean() + BIAS_PENALTY * np.sum(params[1:] ** 2))

    result = minimize(objective, np.zeros(1 + n_classes), method="L-BFGS-B",
                      bounds=[(math.log(0.05), math.log(20.0))] + [(-10.0, 10.0)] * n_classes)
    bias = result.x[1:] - result.x[1:].mean()
    return HeadCalibration(temperature=float(math.exp(result.x[0])), bias=[float(b) for b in bias])


def confidence_threshold(probabilities: np.ndarray, share: float) -> float:
    """The top-probability below which the least confident `share` of the rows fall."""
    return float(np.quantile(probabilities.max(axis=1), share))


def calibration_report(probabilities: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    """ECE, and how the low-confidence flag at `threshold` separates worse predictions from better."""
    confident = probabilities.max(axis=1) >= threshold
    correct = probabilities.argmax(axis=1) == truth
    return {
        "ece": expected_calibration_error(probabilities, truth),
        "low_confidence_threshold": float(threshold),
        "low_confidence_share": float((~confident).mean()),
        "accuracy_confident": float(correct[confident].mean()) if confident.any() else None,
        "accuracy_low_confidence": float(correct[~confident].mean()) if (~confident).any() else None,
    }
