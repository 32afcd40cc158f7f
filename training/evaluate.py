"""`stanceframe evaluate`: honest numbers for a trained model, next to two baselines.

- Grouped k-fold cross-validation: the model's out-of-fold predictions come from the
  training step (same folds, same seed); the majority-class and TF-IDF + logistic
  regression baselines are fitted here on exactly those folds.
- Cross-source evaluation estimates performance on unseen sources: train on the
  team-written data and test on the seed articles; train on the seeds plus half of the
  team-written groups and test on the other half.
- Every figure has a 95% cluster-bootstrap interval; each head gets a confusion matrix,
  the calibration error, and how the low-confidence flag behaves.

The report is written as JSON and as the model card, `model/MODEL_CARD.md`.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from model.labels import HEADS
from model.predictor import (
    FRAME_CONFIDENCE_THRESHOLD,
    STANCE_CONFIDENCE_THRESHOLD,
    calibrated,
)
from training.data import (
    SEED_SOURCE,
    TEAM_SOURCE,
    DataError,
    LabeledSentence,
    data_hash,
    duplicate_clusters,
    grouped_folds,
    labels_of,
    load_labeled,
)
from training.metrics import classification_report, expected_calibration_error
from training.train import (
    METRICS_FILE,
    OOF_FILE,
    PROJECT_DIR,
    TRAIN_CONFIG_FILE,
    TrainConfig,
    fit,
    load_tokenizer,
    project_path,
    stance_logit_bias,
)

logger = logging.getLogger(__name__)

DEFAULT_CARD = PROJECT_DIR / "model" / "MODEL_CARD.md"
DEFAULT_REPORT = PROJECT_DIR / "build" / "evaluation.json"
EXPERIMENTS = PROJECT_DIR / "training" / "experiments.md"
THRESHOLDS = {"stance": STANCE_CONFIDENCE_THRESHOLD, "frame": FRAME_CONFIDENCE_THRESHOLD}


def baseline_predictions(
    train: list[LabeledSentence], test: list[LabeledSentence], head: str, seed: int
) -> dict[str, np.ndarray]:
    """Majority class and TF-IDF + logistic regression, fitted on `train`, predicting `test`."""
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    y_train = labels_of(train, head)
    texts_train, texts_test = [s.text for s in train], [s.text for s in test]
    majority = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train), 1)), y_train)
    if len(np.unique(y_train)) < 2:
        only = majority.predict(np.zeros((len(test), 1)))
        return {"majority": only, "tfidf_logreg": only}
    tfidf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed),
    ).fit(texts_train, y_train)
    return {
        "majority": majority.predict(np.zeros((len(test), 1))),
        "tfidf_logreg": tfidf.predict(texts_test),
    }


@dataclass
class Evaluation:
    """Predicted class ids per system and head, for one set of test sentences."""

    name: str
    description: str
    sentences: list[LabeledSentence]
    clusters: np.ndarray
    predicted: dict[str, dict[str, np.ndarray]]
    probabilities: dict[str, np.ndarray] | None = None

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
                head_result["calibration"] = calibration_report(self.probabilities[head], truth, THRESHOLDS[head])
            result["heads"][head] = head_result
        return result


def calibration_report(probabilities: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    confident = probabilities.max(axis=1) >= threshold
    correct = probabilities.argmax(axis=1) == truth
    return {
        "ece": expected_calibration_error(probabilities, truth),
        "low_confidence_threshold": threshold,
        "low_confidence_share": float((~confident).mean()),
        "accuracy_confident": float(correct[confident].mean()) if confident.any() else None,
        "accuracy_low_confidence": float(correct[~confident].mean()) if (~confident).any() else None,
    }


def cross_validated(model_dir: Path, config: TrainConfig, sentences, clusters) -> Evaluation:
    """The model's out-of-fold predictions from training, and baselines on the same folds."""
    from model.config import StanceFrameConfig

    model_config = StanceFrameConfig.from_pretrained(model_dir)
    oof = {}
    with (model_dir / OOF_FILE).open() as handle:
        for line in handle:
            row = json.loads(line)
            oof[row["id"]] = row
    missing = [s.id for s in sentences if s.id not in oof]
    if missing:
        raise DataError(
            f"{len(missing)} sentences (e.g. {missing[:3]}) have no out-of-fold prediction in "
            f"{model_dir / OOF_FILE}; the model was trained on other data. Retrain with `stanceframe train`."
        )
    stance, frame = calibrated(
        np.array([oof[s.id]["stance_logits"] for s in sentences]),
        np.array([oof[s.id]["frame_logits"] for s in sentences]),
        model_config,
    )
    probabilities = {"stance": stance, "frame": frame}
    predicted = {"model": {head: probabilities[head].argmax(axis=1) for head in HEADS}}
    for head in HEADS:
        for system in ("majority", "tfidf_logreg"):
            predicted.setdefault(system, {})[head] = np.zeros(len(sentences), dtype=int)
    for train_rows, test_rows in grouped_folds(sentences, clusters, config.folds, config.seed):
        for head in HEADS:
            fold_predictions = baseline_predictions(
                [sentences[i] for i in train_rows], [sentences[i] for i in test_rows], head, config.seed
            )
            for system, values in fold_predictions.items():
                predicted[system][head][test_rows] = values
    return Evaluation(
        name="cross_validation",
        description=f"{config.folds}-fold cross-validation grouped by duplicate cluster, on all training data",
        sentences=sentences,
        clusters=clusters,
        predicted=predicted,
        probabilities=probabilities,
    )


def subset(evaluation: Evaluation, keep: np.ndarray, name: str, description: str) -> Evaluation:
    rows = np.flatnonzero(keep)
    return Evaluation(
        name=name,
        description=description,
        sentences=[evaluation.sentences[i] for i in rows],
        clusters=evaluation.clusters[rows],
        predicted={system: {h: v[rows] for h, v in by_head.items()} for system, by_head in evaluation.predicted.items()},
        probabilities={h: p[rows] for h, p in evaluation.probabilities.items()} if evaluation.probabilities else None,
    )


def held_out(
    name: str,
    description: str,
    sentences: list[LabeledSentence],
    clusters: np.ndarray,
    train_mask: np.ndarray,
    test_mask: np.ndarray,
    config: TrainConfig,
    calibration,
) -> Evaluation:
    """Fit the model and the baselines on the train rows and predict the test rows.

    A cluster with a test sentence is kept out of training entirely; the model uses the
    shipped model's temperatures.
    """
    from model.predictor import Predictor

    train_mask = train_mask & ~np.isin(clusters, clusters[test_mask])
    train = [s for s, keep in zip(sentences, train_mask) if keep]
    test = [s for s, keep in zip(sentences, test_mask) if keep]
    tokenizer = load_tokenizer(config)
    network = fit(train, tokenizer, config, description=name, seed=config.seed)
    network.config.stance_temperature = calibration.stance_temperature
    network.config.frame_temperature = calibration.frame_temperature
    network.config.stance_logit_bias = list(stance_logit_bias(config, train))
    calibrated_probabilities = Predictor(network, tokenizer, name).probabilities([s.text for s in test])
    probabilities = {"stance": calibrated_probabilities.stance, "frame": calibrated_probabilities.frame}
    predicted = {"model": {head: probabilities[head].argmax(axis=1) for head in HEADS}}
    for head in HEADS:
        for system, values in baseline_predictions(train, test, head, config.seed).items():
            predicted.setdefault(system, {})[head] = values
    return Evaluation(name, description, test, clusters[test_mask], predicted, probabilities)


def cross_source(sentences, clusters, config: TrainConfig, calibration) -> list[Evaluation]:
    sources = np.array([s.source for s in sentences])
    seeds, team = sources == SEED_SOURCE, sources == TEAM_SOURCE
    if not seeds.any() or not team.any():
        logger.info("Cross-source evaluation needs both seed and team-written data; skipped.")
        return []
    # Half of the team-written clusters, chosen by the seed, are held out as an unseen source.
    team_clusters = np.unique(clusters[team])
    held = np.random.default_rng(config.seed).permutation(team_clusters)[: len(team_clusters) // 2]
    held_team = team & np.isin(clusters, held)
    splits = [
        ("team_to_seeds", "trained on team-written data only, tested on the five seed articles", team, seeds),
        (
            "seeds_plus_half_team_to_other_half",
            "trained on the seeds and half of the team-written groups, tested on the other half",
            ~held_team,
            held_team,
        ),
    ]
    return [
        held_out(name, description, sentences, clusters, train_mask, test_mask, config, calibration)
        for name, description, train_mask, test_mask in splits
    ]


def evaluate(model_ref: str | None, cross_source_enabled: bool, bootstrap: int) -> dict:
    from model.store import resolve_model

    model_dir, tag = resolve_model(model_ref)
    values = json.loads((model_dir / TRAIN_CONFIG_FILE).read_text())
    config = TrainConfig(**{f.name: values[f.name] for f in fields(TrainConfig) if f.name in values})
    training_metrics = json.loads((model_dir / METRICS_FILE).read_text())
    data_paths = [project_path(p) for p in config.data_files]
    if data_hash(data_paths) != training_metrics["data_hash"]:
        raise DataError(
            f"The data files {config.data_files} changed since {tag} was trained "
            f"(hash {training_metrics['data_hash'][:12]}...). Retrain with `stanceframe train`."
        )
    if not (model_dir / OOF_FILE).is_file():
        raise DataError(f"{tag} was trained without cross-validation (--folds 0); nothing to evaluate.")
    sentences = load_labeled(data_paths)
    if config.limit:
        sentences = sentences[: config.limit]
    clusters = duplicate_clusters(sentences)
    main = cross_validated(model_dir, config, sentences, clusters)
    sources = np.array([s.source for s in sentences])
    evaluations = [main] + [
        subset(main, sources == source, f"cross_validation_{source}", f"cross-validation, {source} sentences only")
        for source in sorted(set(sources))
        if len(set(sources)) > 1
    ]
    if cross_source_enabled:
        from model.config import StanceFrameConfig

        evaluations += cross_source(sentences, clusters, config, StanceFrameConfig.from_pretrained(model_dir))
    return {
        "model": tag,
        "data_files": config.data_files,
        "data_hash": training_metrics["data_hash"],
        "sentences": len(sentences),
        "clusters": int(len(np.unique(clusters))),
        "label_counts": {
            head: {label: int(sum(getattr(s, head) == label for s in sentences)) for label in names}
            for head, names in HEADS.items()
        },
        "training_cross_validation": training_metrics.get("cross_validation", {}),
        "train_seconds": training_metrics.get("train_seconds"),
        "int8_check": training_metrics.get("int8_check", {}),
        "bootstrap_samples": bootstrap,
        "evaluations": {e.name: e.report(config.seed, bootstrap) for e in evaluations},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stanceframe evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Store tag or model folder (default: stanceframe:latest).")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="Where the JSON report goes.")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="Where the model card goes.")
    parser.add_argument(
        "--no-cross-source", action="store_true", help="Skip the cross-source runs (they train two more models)."
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples per interval.")
    args = parser.parse_args(argv)
    from model.store import ModelNotFoundError
    from training.model_card import render_model_card

    try:
        report = evaluate(args.model, not args.no_cross_source, args.bootstrap)
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
