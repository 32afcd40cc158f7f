"""Classification metrics with uncertainty: F1 with cluster-bootstrap intervals, ECE."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 1000
ECE_BINS = 15


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: the bin-weighted gap between confidence and accuracy."""
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = bin_of == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)


def _confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _per_class_f1(confusion: np.ndarray) -> np.ndarray:
    true_positive = np.diag(confusion).astype(float)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)


def _macro(confusion: np.ndarray) -> float:
    """Macro-F1 over the classes that occur in the truth or the predictions.

    A class absent from both would add an undefined 0 and drag the mean down for no reason.
    """
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    return float(_per_class_f1(confusion)[present].mean()) if present.any() else 0.0


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    n_classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    return _macro(_confusion(np.asarray(labels), np.asarray(predicted), n_classes))


def _scores(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, object]:
    confusion = _confusion(labels, predicted, n_classes)
    return {
        "macro_f1": _macro(confusion),
        "accuracy": float(np.trace(confusion) / max(len(labels), 1)),
        "per_class_f1": _per_class_f1(confusion),
    }


def classification_report(
    labels: np.ndarray,
    predicted: np.ndarray,
    label_names: Sequence[str],
    clusters: np.ndarray,
    seed: int,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict:
    """Macro-F1, accuracy and per-class F1 with 95% intervals, plus the confusion matrix.

    The bootstrap resamples duplicate clusters, not sentences, because sentences in one
    cluster are not independent evidence.
    """
    n_classes = len(label_names)
    point = _scores(labels, predicted, n_classes)
    rng = np.random.default_rng(seed)
    cluster_ids = np.unique(clusters)
    members = {c: np.flatnonzero(clusters == c) for c in cluster_ids}
    draws = {"macro_f1": [], "accuracy": [], "per_class_f1": []}
    for _ in range(samples):
        chosen = rng.choice(cluster_ids, size=len(cluster_ids), replace=True)
        rows = np.concatenate([members[c] for c in chosen])
        for key, value in _scores(labels[rows], predicted[rows], n_classes).items():
            draws[key].append(value)

    def interval(values) -> list[float]:
        low, high = np.percentile(np.asarray(values), [2.5, 97.5], axis=0)
        return [float(low), float(high)] if np.ndim(low) == 0 else [low, high]

    per_class_low, per_class_high = interval(draws["per_class_f1"])
    support = np.bincount(labels, minlength=n_classes)
    return {
        "n": int(len(labels)),
        "macro_f1": point["macro_f1"],
        "macro_f1_ci95": interval(draws["macro_f1"]),
        "accuracy": point["accuracy"],
        "accuracy_ci95": interval(draws["accuracy"]),
        "per_class": {
            name: {
                "f1": float(point["per_class_f1"][i]),
                "f1_ci95": [float(per_class_low[i]), float(per_class_high[i])],
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": {
            "labels": list(label_names),
            "rows_true_columns_predicted": _confusion(labels, predicted, n_classes).tolist(),
        },
    }
