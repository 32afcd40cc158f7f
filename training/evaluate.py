"""`stanceframe evaluate`: honest numbers for a trained model, next to baselines.

- The blind development set (written by writers who never saw the training data) is the
  headline: the model as served (its default backend), with its calibration cross-fitted
  (fitted on one half of the dev articles, applied to the other) so that the reported
  figures are not fitted on themselves; and baselines trained on the same training data:
  majority class, TF-IDF + logistic regression, frozen MiniLM embeddings + logistic
  regression. Intervals come from a bootstrap over dev articles.
- Per-class F1, confusion matrices, calibration (ECE; accuracy of flagged and confident
  predictions) on the dev set.
- The behavioural tests (`training/behaviour.py`): failure rate per test.
- Optionally (`--folds K`), grouped K-fold cross-validation on the training data.

The report is written as JSON and as the model card, `model/MODEL_CARD.md`.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.labels import HEADS
from training.baselines import BASELINES, baseline_predictions
from training.behaviour import build_tests, run_tests
from training.calibration import calibration_report, confidence_threshold, fit_calibration
from training.config import PROJECT_DIR, TrainConfig, project_path
from training.data import DataError, LabeledSentence, contexts_of, data_hash, grouped_folds, labels_of
from training.dataset import clusters_in, load_corpus, sentences_of
from training.metrics import classification_report

logger = logging.getLogger(__name__)

DEFAULT_CARD = PROJECT_DIR / "model" / "MODEL_CARD.md"
DEFAULT_REPORT = PROJECT_DIR / "build" / "evaluation.json"
EXPERIMENTS = PROJECT_DIR / "training" / "experiments.md"


@dataclass
class Evaluation:
    """Predicted class ids per system and head, for one set of test sentences."""

    name: str
    description: str
    sentences: list[LabeledSentence]
    clusters: np.ndarray
    predicted: dict[str, dict[str, np.ndarray]]
    probabilities: dict[str, np.ndarray] | None = None
    thresholds: dict[str, float] | None = None

    def report(self, seed: int, bootstrap: int) -> dict:
        result: dict = {"description": self.description, "n": len(self.sentences), "heads": {}}
        for head, names in HEADS.items():
            truth = labels_of(self.sentences, head)
            systems = {
                system: classification_report(truth, by_head[head], names, self.clusters, seed, bootstrap)
                for system, by_head in self.predicted.items()
            }
            head_result: dict = {"systems": systems}
            if self.probabilities is not None:
                head_result["calibration"] = calibration_report(self.probabilities[head], truth, self.thresholds[head])
            result["heads"][head] = head_result
        return result


def article_clusters(sentences: list[LabeledSentence]) -> np.ndarray:
    """One bootstrap unit per article (a sentence outside any article is its own unit)."""
    keys = [s.article or s.id for s in sentences]
    _, ids = np.unique(keys, return_inverse=True)
    return ids


def cross_fitted(logits: dict[str, np.ndarray], dev: list[LabeledSentence], share: float, seed: int):
    """Probabilities and thresholds with the calibration fitted on the other half of the dev articles."""
    from model.predictor import softmax

    articles = np.array([s.article or s.id for s in dev])
    if len(np.unique(articles)) < 2:
        raise DataError("Cross-fitted calibration needs a development set of at least two articles; found one.")
    names = np.random.default_rng(seed).permutation(np.unique(articles))
    first_half = np.isin(articles, names[: len(names) // 2])
    probabilities, thresholds = {}, {}
    for head in HEADS:
        truth = labels_of(dev, head)
        out = np.zeros_like(logits[head], dtype=np.float64)
        head_thresholds = []
        for apply_to in (first_half, ~first_half):
            fitted = fit_calibration(logits[head][~apply_to], truth[~apply_to])
            fitted_probabilities = softmax(logits[head][~apply_to], fitted.temperature, fitted.bias)
            head_thresholds.append(confidence_threshold(fitted_probabilities, share))
            out[apply_to] = softmax(logits[head][apply_to], fitted.temperature, fitted.bias)
        probabilities[head] = out
        # The flag is judged against the threshold each half would have had; report their mean.
        thresholds[head] = float(np.mean(head_thresholds))
    return probabilities, thresholds


def dev_evaluation(
    predictor, train: list[LabeledSentence], dev: list[LabeledSentence], config: TrainConfig, baselines: bool = True
) -> list[Evaluation]:
    """The model (cross-fitted and as shipped) and, unless told not to, the baselines on the development set."""
    from model.predictor import calibrated

    stance_logits, frame_logits, _ = predictor.logits([s.text for s in dev], contexts_of(dev, config.context_mode))
    logits = {"stance": stance_logits, "frame": frame_logits}
    crossed, crossed_thresholds = cross_fitted(logits, dev, config.low_confidence_share, config.seed)
    shipped = dict(zip(("stance", "frame"), calibrated(stance_logits, frame_logits, predictor.config)))
    shipped_thresholds = {head: getattr(predictor.config, f"{head}_confidence_threshold") for head in HEADS}
    predicted = {
        "model": {head: crossed[head].argmax(axis=1) for head in HEADS},
        "model_shipped_calibration": {head: shipped[head].argmax(axis=1) for head in HEADS},
        "model_uncalibrated": {head: logits[head].argmax(axis=1) for head in HEADS},
    }
    for head in HEADS if baselines else ():
        for system, values in baseline_predictions(train, dev, head, config.seed).items():
            predicted.setdefault(system, {})[head] = values
    clusters = article_clusters(dev)
    description = (
        f"the blind development set: {len(dev)} sentences of {len(np.unique(clusters))} articles written "
        f"independently of the training data; never trained on"
    )
    return [
        Evaluation("dev", description, dev, clusters, predicted, crossed, crossed_thresholds),
        Evaluation(
            "dev_shipped_calibration",
            "the development set, with the calibration and thresholds the model ships with (fitted on this set)",
            dev, clusters, {"model": predicted["model_shipped_calibration"]}, shipped, shipped_thresholds,
        ),
    ]


def cross_validation(train: list[LabeledSentence], clusters: np.ndarray, config: TrainConfig, folds: int) -> Evaluation:
    """Grouped K-fold cross-validation of the training recipe on the training data (uncalibrated).

    `clusters` are the duplicate clusters of `train` (the corpus's `cluster_id` column).
    """
    from model.predictor import Predictor
    from training.fit import fit_averaged, load_tokenizer

    tokenizer = load_tokenizer(config)
    contexts = contexts_of(train, config.context_mode)
    predicted: dict[str, dict[str, np.ndarray]] = {
        system: {head: np.zeros(len(train), dtype=int) for head in HEADS} for system in ("model", *BASELINES)
    }
    for number, (train_rows, test_rows) in enumerate(grouped_folds(train, clusters, folds, config.seed)):
        fold_train = [train[i] for i in train_rows]
        fold_test = [train[i] for i in test_rows]
        network = fit_averaged(
            fold_train, None if contexts is None else [contexts[i] for i in train_rows], tokenizer, config,
            f"fold {number + 1}/{folds}",
        )
        stance, frame, _ = Predictor.for_module(network, tokenizer, "fold").logits(
            [s.text for s in fold_test], None if contexts is None else [contexts[i] for i in test_rows]
        )
        predicted["model"]["stance"][test_rows] = stance.argmax(axis=1)
        predicted["model"]["frame"][test_rows] = frame.argmax(axis=1)
        for head in HEADS:
            for system, values in baseline_predictions(fold_train, fold_test, head, config.seed).items():
                predicted[system][head][test_rows] = values
    return Evaluation(
        "cross_validation",
        f"{folds}-fold cross-validation on the training data, grouped by article and duplicate cluster (uncalibrated)",
        train, clusters, predicted,
    )


def behaviour_report(predictor) -> list[dict]:
    def probabilities(texts: list[str]) -> dict[str, np.ndarray]:
        scored = predictor.probabilities(texts)
        return {"stance": scored.stance, "frame": scored.frame}

    return run_tests(build_tests(), probabilities)


def evaluate(model_ref: str | None, bootstrap: int, folds: int, backend: str) -> dict:
    from model.predictor import Predictor
    from model.store import resolve_model
    from training.train import METRICS_FILE, TRAIN_CONFIG_FILE

    model_dir, tag = resolve_model(model_ref)
    config = TrainConfig.from_saved(model_dir / TRAIN_CONFIG_FILE)
    training_metrics = json.loads((model_dir / METRICS_FILE).read_text())
    data_paths = [project_path(p) for p in config.data_files + config.dev_files]
    if data_hash(data_paths) != training_metrics["data_hash"]:
        raise DataError(
            f"The data files {config.data_files + config.dev_files} changed since {tag} was trained "
            f"(hash {training_metrics['data_hash'][:12]}...). Retrain with `stanceframe train`."
        )
    if not config.dev_files:
        raise DataError(f"{tag} was trained without a development set (dev_files); there is nothing unseen to evaluate on.")
    corpus = load_corpus(config)
    train, dev = sentences_of(corpus["train"]), sentences_of(corpus["dev"])
    predictor = Predictor.from_directory(model_dir, tag, backend=backend)
    evaluations = dev_evaluation(predictor, train, dev, config)
    if folds:
        evaluations.append(cross_validation(train, clusters_in(corpus["train"]), config, folds))
    return {
        "model": tag,
        "backend": predictor.backend,
        "data_files": config.data_files,
        "dev_files": config.dev_files,
        "data_hash": training_metrics["data_hash"],
        "train_config": json.loads((model_dir / TRAIN_CONFIG_FILE).read_text()),
        "sentences": len(train),
        "dev_sentences": len(dev),
        "label_counts": {
            split: {
                head: {label: int(sum(getattr(s, head) == label for s in sentences)) for label in names}
                for head, names in HEADS.items()
            }
            for split, sentences in (("train", train), ("dev", dev))
        },
        "train_seconds": training_metrics.get("train_seconds"),
        "int8_check": training_metrics.get("int8_check", {}),
        "calibration": {
            head: {key: training_metrics["dev"][head][key] for key in ("temperature", "bias", "low_confidence_threshold")}
            for head in HEADS
        },
        "bootstrap_samples": bootstrap,
        "evaluations": {e.name: e.report(config.seed, bootstrap) for e in evaluations},
        "behaviour": behaviour_report(predictor),
    }


def main(argv: list[str] | None = None) -> int:
    from model.predictor import BACKENDS, DEFAULT_BACKEND

    parser = argparse.ArgumentParser(prog="stanceframe evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Store tag or model folder (default: stanceframe:latest).")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="Where the JSON report goes.")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="Where the model card goes.")
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples per interval.")
    parser.add_argument(
        "--folds", type=int, default=0,
        help="Also cross-validate the training recipe with this many grouped folds (each trains a model; 0: skip).",
    )
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help="Backend to evaluate (default: the one the service uses).")
    args = parser.parse_args(argv)
    from model.store import ModelNotFoundError
    from training.model_card import render_model_card

    if args.folds == 1 or args.folds < 0:
        parser.error(f"--folds must be 0 (skip) or at least 2, found {args.folds}.")
    try:
        report = evaluate(args.model, args.bootstrap, args.folds, args.backend)
    except (DataError, ModelNotFoundError) as error:
        logger.error("%s", error)
        return 2
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    args.card.write_text(render_model_card(report, EXPERIMENTS))
    logger.info("Wrote %s and %s", args.report, args.card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
