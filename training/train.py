"""`stanceframe train`: fine-tune all-MiniLM-L6-v2 with a stance and a frame head.

1. load the training data and the blind development set (never trained on);
2. fine-tune, averaging the weights of `average_seeds` runs;
3. calibrate each head on the development set (temperature and logit bias) and choose the
   low-confidence thresholds there;
4. save with `save_pretrained` (safetensors), the tokenizer, the resolved config and
   `metrics.json`;
5. export ONNX fp32 and int8, and check int8 against fp32 on the development set;
6. build the nearest-neighbour index of the training sentences (`training/neighbour_index.py`);
7. register the folder in the BentoML model store as `stanceframe:<version>`.

Cross-validation, baselines and the behavioural tests belong to `stanceframe evaluate`.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path


from model.labels import FRAME_LABELS, HEADS, STANCE_LABELS
from training.calibration import calibration_report, confidence_threshold, fit_calibration
from training.config import DEFAULT_CONFIG, ConfigError, TrainConfig, project_path
from training.data import DataError, LabeledSentence, contexts_of, data_hash, labels_of
from training.dataset import contexts_in, load_corpus, sentences_of
from training.fit import fit_averaged, load_tokenizer
from training.metrics import macro_f1
from training.neighbour_index import build_neighbour_index

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
TRAIN_CONFIG_FILE = "train_config.json"


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, bool]:
    """The resolved TrainConfig (config file, then command-line overrides) and --if-missing."""
    import argparse

    from transformers import HfArgumentParser

    # The config file gives the defaults and the command line overrides them.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=str(DEFAULT_CONFIG))
    known, _ = pre.parse_known_args(argv)
    parser = HfArgumentParser(TrainConfig, prog="stanceframe train", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default=str(DEFAULT_CONFIG),
        help="JSON file with TrainConfig values; command-line options override it.",
    )
    parser.add_argument(
        "--if_missing", "--if-missing", action="store_true",
        help="Do nothing when the store already has a stanceframe model.",
    )
    config_path = Path(known.config)
    if not config_path.is_file():
        parser.error(f"config file {config_path} does not exist; pass --config with a JSON file.")
    values = json.loads(config_path.read_text())
    unknown = set(values) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        parser.error(f"{config_path} has unknown keys {sorted(unknown)}; expected TrainConfig fields.")
    parser.set_defaults(**values)
    try:
        config, options = parser.parse_args_into_dataclasses(args=argv)
    except ConfigError as error:
        parser.error(str(error))
    return config, options.if_missing


def configure_determinism() -> None:
    import torch

    torch.use_deterministic_algorithms(True)


def load_data(config: TrainConfig) -> tuple[list[LabeledSentence], list[LabeledSentence]]:
    """The training and development sentences, read through the corpus dataset (checked to share no article or id)."""
    corpus = load_corpus(config)
    return sentences_of(corpus["train"]), sentences_of(corpus["dev"])


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    packages = ("torch", "transformers", "tokenizers", "bentoml", "scikit-learn", "numpy", "pysbd")
    return {"python": platform.python_version(), **{name: version(name) for name in packages}}


def calibrate_on_dev(network, tokenizer, dev: list[LabeledSentence], config: TrainConfig) -> dict:
    """Fit each head's temperature, bias and threshold on the dev set; write them into the network's config.

    Returns the dev-set metrics of the calibrated model. These are in-sample for the
    calibration (fitted on the same sentences); `stanceframe evaluate` reports the
    cross-fitted figures.
    """
    from model.predictor import Predictor, softmax

    stance_logits, frame_logits, _ = Predictor.for_module(network, tokenizer, "dev").logits(
        [s.text for s in dev], contexts_of(dev, config.context_mode)
    )
    metrics: dict = {"sentences": len(dev), "articles": len({s.article for s in dev})}
    for head, logits in (("stance", stance_logits), ("frame", frame_logits)):
        truth = labels_of(dev, head)
        fitted = fit_calibration(logits, truth)
        probabilities = softmax(logits, fitted.temperature, fitted.bias)
        threshold = confidence_threshold(probabilities, config.low_confidence_share)
        setattr(network.config, f"{head}_temperature", fitted.temperature)
        setattr(network.config, f"{head}_logit_bias", fitted.bias)
        setattr(network.config, f"{head}_confidence_threshold", threshold)
        predicted = probabilities.argmax(axis=1)
        metrics[head] = {
            "macro_f1": macro_f1(truth, predicted),
            "accuracy": float((predicted == truth).mean()),
            "macro_f1_uncalibrated": macro_f1(truth, logits.argmax(axis=1)),
            "temperature": fitted.temperature,
            "bias": fitted.bias,
        } | calibration_report(probabilities, truth, threshold)
    logger.info("Development set (calibrated in-sample): %s", json.dumps({h: metrics[h] for h in HEADS}))
    return metrics


def prepare_output_dir(output_dir: Path) -> None:
    """An empty `output_dir`, replacing only an earlier model (never an unrelated folder)."""
    if output_dir.exists():
        if any(output_dir.iterdir()) and not (output_dir / TRAIN_CONFIG_FILE).is_file():
            raise DataError(
                f"--output_dir {output_dir} is not empty and holds no earlier model ({TRAIN_CONFIG_FILE}); "
                f"choose an empty or new folder."
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)


def train(config: TrainConfig) -> dict:
    """Run the whole training step; returns the metrics written next to the weights."""
    import torch

    started = time.monotonic()
    configure_determinism()
    corpus = load_corpus(config)
    train_sentences, dev = sentences_of(corpus["train"]), sentences_of(corpus["dev"])
    logger.info(
        "Training on %d sentences from %s; development set %d sentences",
        len(train_sentences), ", ".join(config.data_files), len(dev),
    )
    data_paths = [project_path(p) for p in config.data_files + config.dev_files]
    metrics: dict = {
        "data_files": list(config.data_files),
        "dev_files": list(config.dev_files),
        "data_hash": data_hash(data_paths),
        "sentences": len(train_sentences),
        "seed": config.seed,
    }
    tokenizer = load_tokenizer(config)
    train_contexts = contexts_in(corpus["train"], config.context_mode)
    network = fit_averaged(train_sentences, train_contexts, tokenizer, config, "fit")
    metrics["fit_seconds"] = round(time.monotonic() - started, 1)
    if dev:
        metrics["dev"] = calibrate_on_dev(network, tokenizer, dev, config)

    output_dir = project_path(config.output_dir)
    prepare_output_dir(output_dir)
    network.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    (output_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")
    if config.export_onnx:
        from model.onnx_backend import export_onnx
        from training.int8_check import check_int8

        export_onnx(output_dir)
        check_sentences = dev or train_sentences
        metrics["int8_check"] = check_int8(
            output_dir, check_sentences, contexts_of(check_sentences, config.context_mode),
            "development-set sentences" if dev else "training sentences",
        )
    metrics["neighbour_index"] = build_neighbour_index(output_dir, train_sentences, train_contexts)
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    metrics["torch_threads"] = torch.get_num_threads()
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    logger.info("Saved the model to %s", output_dir)

    if config.register:
        from model.store import register_model

        metadata = {
            "stance_labels": list(STANCE_LABELS),
            "frame_labels": list(FRAME_LABELS),
            "data_files": list(config.data_files),
            "dev_files": list(config.dev_files),
            "data_hash": metrics["data_hash"],
            "seed": config.seed,
            "metrics": {"dev": metrics.get("dev", {})},
            "int8_check": metrics.get("int8_check", {}),
            "library_versions": library_versions(),
            "train_config": asdict(config),
        }
        metrics["tag"] = register_model(output_dir, metadata)
    return metrics


def main(argv: list[str] | None = None) -> int:
    config, if_missing = parse_args(argv)
    if if_missing:
        from model.store import has_model

        if has_model():
            logger.info("The store already has a stanceframe model; not training (--if-missing).")
            return 0
    try:
        metrics = train(config)
    except DataError as error:
        logger.error("%s", error)
        return 2
    logger.info(
        "Done in %.0f s%s", metrics["train_seconds"], f"; registered {metrics['tag']}" if "tag" in metrics else ""
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
