"""`python -m training.experiment`: one training variant, judged on the blind development set.

Takes every `stanceframe train` option (TrainConfig; the config file gives the defaults),
fits on the training data (or a share of its articles, for learning curves), and scores
the development set as `stanceframe evaluate` does: macro-F1 and accuracy with
article-bootstrap intervals, per-class F1, ECE with cross-fitted calibration, and the
behavioural tests' mean failure rate. Appends one JSON line per run to `--log`; the
figures in `training/experiments.md` come from that log.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from model.labels import HEADS
from training.config import PROJECT_DIR
from training.data import contexts_of

DEFAULT_LOG = PROJECT_DIR / "build" / "experiments.jsonl"


def article_subset(sentences, fraction: float, seed: int):
    """All sentences of a seeded random `fraction` of the articles (isolated sentences count as articles)."""
    keys = np.array([s.article or s.id for s in sentences])
    names = np.random.default_rng(seed).permutation(np.unique(keys))
    kept = set(names[: max(1, round(fraction * len(names)))])
    return [s for s, key in zip(sentences, keys) if key in kept]


def summary(evaluation: dict, behaviour: list[dict]) -> dict:
    result = {}
    for head in HEADS:
        model = evaluation["heads"][head]["systems"]["model"]
        result[head] = {
            "macro_f1": round(model["macro_f1"], 4),
            "macro_f1_ci95": [round(x, 4) for x in model["macro_f1_ci95"]],
            "accuracy": round(model["accuracy"], 4),
            "accuracy_ci95": [round(x, 4) for x in model["accuracy_ci95"]],
            "per_class_f1": {label: round(v["f1"], 3) for label, v in model["per_class"].items()},
            "ece": round(evaluation["heads"][head]["calibration"]["ece"], 4),
        }
        uncalibrated = evaluation["heads"][head]["systems"].get("model_uncalibrated")
        if uncalibrated:
            result[head]["macro_f1_uncalibrated"] = round(uncalibrated["macro_f1"], 4)
    result["behaviour_failure_rate"] = round(float(np.mean([b["failure_rate"] for b in behaviour])), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    from model.predictor import Predictor
    from training.evaluate import behaviour_report, dev_evaluation
    from training.fit import fit_averaged, load_tokenizer
    from training.train import configure_determinism, load_data, parse_args

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    own = argparse.ArgumentParser(
        prog="python -m training.experiment", add_help=False,
        description="One training variant, judged on the development set. These options, then every "
        "`stanceframe train` option (listed below).",
    )
    own.add_argument("--name", default="", help="What the variant is, for the log and the experiment table.")
    own.add_argument("--train_fraction", type=float, default=1.0,
                     help="Train on this share of the training articles (learning curves).")
    own.add_argument("--log", type=Path, default=DEFAULT_LOG, help="JSON-lines file the result is appended to.")
    own.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples (by article) for the CIs.")
    options, rest = own.parse_known_args(argv)
    if {"-h", "--help"} & set(rest):
        own.print_help()
    if not 0 < options.train_fraction <= 1:
        own.error(f"--train_fraction must be in (0, 1], found {options.train_fraction}.")
    config, _ = parse_args(rest)
    configure_determinism()
    started = time.monotonic()
    train, dev = load_data(config)
    if not dev:
        own.error("An experiment needs a development set: set dev_files in the config or on the command line.")
    if options.train_fraction < 1:
        train = article_subset(train, options.train_fraction, config.seed)
    tokenizer = load_tokenizer(config)
    network = fit_averaged(train, contexts_of(train, config.context_mode), tokenizer, config, options.name or "experiment")
    fit_seconds = time.monotonic() - started
    predictor = Predictor.for_module(network, tokenizer, options.name or "experiment")
    evaluation = dev_evaluation(predictor, train, dev, config, baselines=False)[0].report(config.seed, options.bootstrap)
    record = {
        "name": options.name,
        "options": rest,
        "train_fraction": options.train_fraction,
        "train_sentences": len(train),
        "train_articles": len({s.article or s.id for s in train}),
        "dev_sentences": len(dev),
        "fit_seconds": round(fit_seconds, 1),
        **summary(evaluation, behaviour_report(predictor)),
    }
    options.log.parent.mkdir(parents=True, exist_ok=True)
    with options.log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
