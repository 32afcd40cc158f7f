"""`python -m training.cross_source`: the quick experiment loop of the model-quality work.

Trains one variant (TrainConfig options on the command line, as for `stanceframe train`)
on the team-written data only and tests it on the five seed articles: the cheapest
estimate of performance on an unseen source. Prints a JSON line with the macro-F1 and
accuracy of both heads, raw and with the stance prior shift applied, and the baselines.
Numbers kept in `training/experiments.md` come from this script or from
`stanceframe evaluate`.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np

from model.labels import HEADS, STANCE_LABELS
from training.data import (
    SEED_SOURCE,
    TEAM_SOURCE,
    duplicate_clusters,
    labels_of,
    load_labeled,
)
from training.evaluate import baseline_predictions
from training.metrics import macro_f1
from training.train import (
    fit,
    load_tokenizer,
    parse_args,
    project_path,
    stance_logit_bias,
)

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    from model.predictor import Predictor

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    config, _ = parse_args(argv)
    sentences = load_labeled([project_path(p) for p in config.data_files])
    clusters = duplicate_clusters(sentences)
    train = [s for s in sentences if s.source == TEAM_SOURCE]
    test = [s for s, c in zip(sentences, clusters) if s.source == SEED_SOURCE]
    tokenizer = load_tokenizer(config)
    network = fit(train, tokenizer, config, description="team_to_seeds", seed=config.seed)
    stance_logits, frame_logits, _ = Predictor(network, tokenizer, "experiment").logits([s.text for s in test])
    result: dict = {"options": sys.argv[1:] if argv is None else argv, "n_train": len(train), "n_test": len(test)}
    shifted = stance_logits + stance_logit_bias(config, train)
    for head, logits in (("stance", stance_logits), ("stance_prior_shift", shifted), ("frame", frame_logits)):
        truth = labels_of(test, "stance" if head.startswith("stance") else "frame")
        predicted = logits.argmax(axis=1)
        result[head] = {"macro_f1": round(macro_f1(truth, predicted), 4),
                        "accuracy": round(float((predicted == truth).mean()), 4)}
    result["stance_predicted_counts"] = dict(zip(STANCE_LABELS, np.bincount(shifted.argmax(axis=1), minlength=3).tolist()))
    for head in HEADS:
        truth = labels_of(test, head)
        for system, predicted in baseline_predictions(train, test, head, config.seed).items():
            result[f"{head}_{system}"] = round(macro_f1(truth, predicted), 4)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
