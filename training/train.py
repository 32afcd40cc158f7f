"""`stanceframe train`: fine-tune all-MiniLM-L6-v2 with a stance and a frame head.

The step is deterministic (one seed, set once per fit; deterministic torch kernels) and runs:
1. grouped k-fold cross-validation (a duplicate cluster never straddles a split), which
   gives out-of-fold logits for every training sentence;
2. temperature scaling per head, fitted on those out-of-fold logits;
3. a final fit on all the data, saved with `save_pretrained` (safetensors), the tokenizer,
   the resolved config, `metrics.json` and the out-of-fold predictions;
4. registration in the BentoML model store as `stanceframe:<version>`.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, STANCE_LABELS
from training.data import (
    DATA_DIR,
    SEED_SOURCE,
    DataError,
    LabeledSentence,
    data_hash,
    duplicate_clusters,
    grouped_folds,
    labels_of,
    load_labeled,
)
from training.metrics import expected_calibration_error, macro_f1

logger = logging.getLogger(__name__)

PROJECT_DIR = DATA_DIR.parents[1]
DEFAULT_CONFIG = PROJECT_DIR / "training" / "config.json"
OOF_FILE = "oof_predictions.jsonl"
METRICS_FILE = "metrics.json"
TRAIN_CONFIG_FILE = "train_config.json"


@dataclass
class TrainConfig:
    """Everything that determines the trained model. Saved, resolved, next to the weights."""

    data_files: list[str] = field(
        default_factory=lambda: ["training/data/seed_sentences.jsonl"],
        metadata={"help": "Labeled JSONL files (id, text, stance, frame), relative to the project."},
    )
    output_dir: str = field(default="build/model", metadata={"help": "Where the trained model folder is written."})
    base_model: str = field(
        default="",
        metadata={"help": "Encoder folder to start from; empty means the offline all-MiniLM-L6-v2 package."},
    )
    seed: int = field(default=13, metadata={"help": "The one random seed for folds, initialisation and shuffling."})
    epochs: int = field(default=5, metadata={"help": "Passes over the training data per fit."})
    batch_size: int = field(default=16, metadata={"help": "Sentences per optimiser step."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate of the encoder."})
    head_learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate of the two heads."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with linear warm-up."})
    max_length: int = field(default=128, metadata={"help": "Model window in tokens; longer sentences are truncated."})
    freeze_word_embeddings: bool = field(
        default=True,
        metadata={"help": "Keep the 30k-row word embedding table fixed: steps about a third faster, less overfitting."},
    )
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing of both cross-entropy losses."})
    class_balanced: bool = field(
        default=True, metadata={"help": "Weight each class's loss by inverse frequency (sklearn 'balanced')."}
    )
    stance_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the stance loss in the sum."})
    frame_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the frame loss in the sum."})
    stance_prior: list[float] = field(
        default_factory=lambda: [1 / 6, 1 / 6, 2 / 3],
        metadata={
            "help": "Expected share of supportive, skeptical, neutral sentences in real coverage. The stance "
            "logits are shifted from the training prior to this one; an empty list means no shift."
        },
    )
    folds: int = field(
        default=5, metadata={"help": "Grouped cross-validation folds for calibration and metrics; 0 skips them."}
    )
    max_steps: int = field(default=0, metadata={"help": "Stop each fit after this many steps (0: no limit). For smoke tests."})
    limit: int = field(default=0, metadata={"help": "Use only the first N labeled sentences (0: all). For smoke tests."})
    export_onnx: bool = field(
        default=True, metadata={"help": "Also export ONNX fp32 and int8 files for the ONNX Runtime backends."}
    )
    register: bool = field(default=True, metadata={"help": "Register the result in the BentoML model store."})


@dataclass
class CommandOptions:
    """Options of the command itself, not of the model."""

    config: str = field(
        default=str(DEFAULT_CONFIG),
        metadata={"help": "JSON file with TrainConfig values; command-line options override it."},
    )
    if_missing: bool = field(
        default=False, metadata={"help": "Do nothing when the store already has a stanceframe model."}
    )


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, CommandOptions]:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (TrainConfig, CommandOptions),
        prog="stanceframe train",
        description=__doc__.split("\n\n")[0],
    )
    # The config file gives the defaults and the command line overrides them.
    known, _ = parser.parse_known_args(argv)
    if known.config:
        config_path = Path(known.config)
        if not config_path.is_file():
            parser.error(f"config file {config_path} does not exist; pass --config with a JSON file.")
        values = json.loads(config_path.read_text())
        unknown = set(values) - {f for f in TrainConfig.__dataclass_fields__}
        if unknown:
            parser.error(f"{config_path} has unknown keys {sorted(unknown)}; expected TrainConfig fields.")
        parser.set_defaults(**values)
    train_config, options = parser.parse_args_into_dataclasses(args=argv)
    return train_config, options


def project_path(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else PROJECT_DIR / candidate


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_determinism() -> None:
    import torch

    torch.use_deterministic_algorithms(True)


def base_model_dir(config: TrainConfig) -> Path:
    if config.base_model:
        return project_path(config.base_model)
    from model.network import base_model_path

    return base_model_path()


def load_tokenizer(config: TrainConfig):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir(config))


def new_network(config: TrainConfig, seed: int):
    """The pretrained encoder with freshly initialised heads (initialisation seeded)."""
    from model.config import StanceFrameConfig
    from model.network import StanceFrameModel

    seed_everything(seed)
    base = base_model_dir(config)
    network_config = StanceFrameConfig.from_pretrained(
        base,
        stance_labels=list(STANCE_LABELS),
        frame_labels=list(FRAME_LABELS),
        max_seq_length=config.max_length,
    )
    return StanceFrameModel.from_pretrained(base, config=network_config)


def class_weights(labels: np.ndarray, n_classes: int):
    """sklearn's 'balanced' weights; a class absent from the fold gets weight 1."""
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


BUCKET_BATCHES = 8


def bucketed_batches(encoded: list[list[int]], batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length: less padding, the same data each epoch.

    The rows are shuffled, cut into pools of BUCKET_BATCHES batches, sorted by length
    within each pool and batched; then the batch order is shuffled.
    """
    order = generator.permutation(len(encoded))
    pool_size = batch_size * BUCKET_BATCHES
    batches = []
    for begin in range(0, len(order), pool_size):
        pool = sorted(order[begin : begin + pool_size], key=lambda i: len(encoded[i]))
        batches += [np.array(pool[i : i + batch_size]) for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def fit(sentences: list[LabeledSentence], tokenizer, config: TrainConfig, description: str, seed: int):
    """Fine-tune a new network on `sentences` and return it in eval mode."""
    import torch
    from torch import nn
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    network = new_network(config, seed)
    network.bert.embeddings.word_embeddings.weight.requires_grad_(not config.freeze_word_embeddings)
    encoded = tokenizer(
        [s.text for s in sentences], truncation=True, max_length=config.max_length
    )["input_ids"]
    stance, frame = labels_of(sentences, "stance"), labels_of(sentences, "frame")
    weights = {
        "stance": class_weights(stance, len(STANCE_LABELS)) if config.class_balanced else None,
        "frame": class_weights(frame, len(FRAME_LABELS)) if config.class_balanced else None,
    }
    stance_loss = nn.CrossEntropyLoss(weight=weights["stance"], label_smoothing=config.label_smoothing)
    frame_loss = nn.CrossEntropyLoss(weight=weights["frame"], label_smoothing=config.label_smoothing)

    head_names = ("stance_head.", "frame_head.")
    no_decay = ("bias", "LayerNorm.weight")
    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        key = (name.startswith(head_names), not any(marker in name for marker in no_decay))
        groups.setdefault(key, []).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": config.head_learning_rate if is_head else config.learning_rate,
                "weight_decay": config.weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in sorted(groups.items())
        ]
    )
    steps_per_epoch = math.ceil(len(sentences) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps
    )
    generator = np.random.default_rng(seed)
    network.train()
    step = epoch = 0
    with tqdm(total=total_steps, desc=description, unit="step", disable=None, file=sys.stderr) as progress:
        while step < total_steps:
            epoch += 1
            epoch_losses = []
            for rows in bucketed_batches(encoded, config.batch_size, generator):
                batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
                output = network(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                loss = config.stance_loss_weight * stance_loss(
                    output.stance_logits, torch.from_numpy(stance[rows])
                ) + config.frame_loss_weight * frame_loss(output.frame_logits, torch.from_numpy(frame[rows]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.3f}")
                epoch_losses.append(loss.item())
                if step >= total_steps:
                    break
            # The bar is hidden when stderr is not a terminal; the log still shows progress.
            logger.info("%s: epoch %d, step %d/%d, mean loss %.3f", description, epoch, step, total_steps,
                        float(np.mean(epoch_losses)))
    return network.eval()


def stance_logit_bias(config: TrainConfig, sentences: list[LabeledSentence]) -> np.ndarray:
    """log(target prior) - log(training prior) per stance class: a prior shift (Saerens et al., 2002).

    With class-balanced loss the model is trained as if the classes were equally likely.
    """
    if not config.stance_prior:
        return np.zeros(len(STANCE_LABELS))
    target = np.asarray(config.stance_prior, dtype=np.float64)
    if len(target) != len(STANCE_LABELS) or (target <= 0).any():
        raise DataError(
            f"stance_prior needs {len(STANCE_LABELS)} positive shares for {list(STANCE_LABELS)}, found {list(target)}."
        )
    if config.class_balanced:
        trained = np.full(len(STANCE_LABELS), 1 / len(STANCE_LABELS))
    else:
        counts = np.bincount(labels_of(sentences, "stance"), minlength=len(STANCE_LABELS))
        trained = np.maximum(counts, 1) / max(counts.sum(), 1)
    return np.log(target / target.sum()) - np.log(trained)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of `labels` (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_temperature: float) -> float:
        scaled = log_softmax(logits / math.exp(log_temperature), axis=1)
        return float(-scaled[np.arange(len(labels)), labels].mean())

    result = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(result.x))


def head_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float, bias=None) -> dict:
    """Metrics of the reported probabilities (temperature, then any prior shift)."""
    from model.predictor import softmax

    probabilities = softmax(logits, temperature, bias)
    predicted = probabilities.argmax(axis=1)
    return {
        "macro_f1": macro_f1(labels, predicted),
        "accuracy": float((predicted == labels).mean()),
        "ece_uncalibrated": expected_calibration_error(softmax(logits, 1.0, bias), labels),
        "ece": expected_calibration_error(probabilities, labels),
        "temperature": temperature,
    }


def cross_validate(
    sentences: list[LabeledSentence], clusters: np.ndarray, tokenizer, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold stance and frame logits for every sentence, and each sentence's fold."""
    from model.predictor import Predictor

    folds = grouped_folds(sentences, clusters, config.folds, config.seed)
    stance = np.zeros((len(sentences), len(STANCE_LABELS)), dtype=np.float32)
    frame = np.zeros((len(sentences), len(FRAME_LABELS)), dtype=np.float32)
    fold_of = np.full(len(sentences), -1)
    for number, (train_rows, test_rows) in enumerate(folds):
        network = fit(
            [sentences[i] for i in train_rows],
            tokenizer,
            config,
            description=f"fold {number + 1}/{len(folds)}",
            seed=config.seed + number + 1,
        )
        predictor = Predictor(network, tokenizer, model_tag=f"fold-{number}")
        stance[test_rows], frame[test_rows], _ = predictor.logits([sentences[i].text for i in test_rows])
        fold_of[test_rows] = number
    return stance, frame, fold_of


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    packages = ("torch", "transformers", "tokenizers", "bentoml", "scikit-learn", "numpy", "pysbd")
    return {"python": platform.python_version(), **{name: version(name) for name in packages}}


def write_oof(path: Path, sentences, fold_of, stance_logits, frame_logits) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for sentence, fold, stance_row, frame_row in zip(sentences, fold_of, stance_logits, frame_logits):
            record = {
                "id": sentence.id,
                "fold": int(fold),
                "stance_logits": [round(float(x), 6) for x in stance_row],
                "frame_logits": [round(float(x), 6) for x in frame_row],
            }
            handle.write(json.dumps(record) + "\n")


def train(config: TrainConfig) -> dict:
    """Run the whole training step; returns the metrics written next to the weights."""
    import torch

    started = time.monotonic()
    configure_determinism()
    data_paths = [project_path(p) for p in config.data_files]
    sentences = load_labeled(data_paths)
    if config.limit:
        sentences = sentences[: config.limit]
    clusters = duplicate_clusters(sentences)
    logger.info(
        "Training on %d sentences (%d duplicate clusters) from %s",
        len(sentences), len(np.unique(clusters)), ", ".join(config.data_files),
    )
    tokenizer = load_tokenizer(config)
    stance_labels, frame_labels = labels_of(sentences, "stance"), labels_of(sentences, "frame")

    metrics: dict = {
        "data_files": list(config.data_files),
        "data_hash": data_hash(data_paths),
        "sentences": len(sentences),
        "clusters": int(len(np.unique(clusters))),
        "seed": config.seed,
    }
    stance_temperature = frame_temperature = 1.0
    stance_bias = stance_logit_bias(config, sentences)
    metrics["stance_logit_bias"] = [round(float(b), 6) for b in stance_bias]
    oof = None
    if config.folds:
        stance_oof, frame_oof, fold_of = cross_validate(sentences, clusters, tokenizer, config)
        stance_temperature = fit_temperature(stance_oof, stance_labels)
        frame_temperature = fit_temperature(frame_oof, frame_labels)
        metrics["cross_validation"] = {
            "folds": config.folds,
            "stance": head_metrics(stance_oof, stance_labels, stance_temperature, stance_bias),
            "frame": head_metrics(frame_oof, frame_labels, frame_temperature),
        }
        oof = (fold_of, stance_oof, frame_oof)
        logger.info("Cross-validated metrics: %s", json.dumps(metrics["cross_validation"]))

    network = fit(sentences, tokenizer, config, description="final fit", seed=config.seed)
    network.config.stance_temperature = stance_temperature
    network.config.frame_temperature = frame_temperature
    network.config.stance_logit_bias = [float(b) for b in stance_bias]
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    metrics["torch_threads"] = torch.get_num_threads()

    output_dir = project_path(config.output_dir)
    if output_dir.exists():
        # Replace only an earlier model (or nothing): never wipe an unrelated folder.
        if any(output_dir.iterdir()) and not (output_dir / TRAIN_CONFIG_FILE).is_file():
            raise DataError(
                f"--output_dir {output_dir} is not empty and holds no earlier model ({TRAIN_CONFIG_FILE}); "
                f"choose an empty or new folder."
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    network.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    if config.export_onnx:
        from model.onnx_backend import export_onnx
        from training.int8_check import check_int8

        export_onnx(output_dir)
        seeds = [s for s in sentences if s.source == SEED_SOURCE]
        if seeds:
            metrics["int8_check"] = check_int8(output_dir, seeds)
    (output_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    if oof is not None:
        write_oof(output_dir / OOF_FILE, sentences, *oof)
    logger.info("Saved the model to %s", output_dir)

    if config.register:
        from model.store import register_model

        metadata = {
            "stance_labels": list(STANCE_LABELS),
            "frame_labels": list(FRAME_LABELS),
            "data_files": list(config.data_files),
            "data_hash": metrics["data_hash"],
            "seed": config.seed,
            "metrics": metrics.get("cross_validation", {}),
            "int8_check": metrics.get("int8_check", {}),
            "library_versions": library_versions(),
            "train_config": asdict(config),
        }
        metrics["tag"] = register_model(output_dir, metadata)
    return metrics


def main(argv: list[str] | None = None) -> int:
    config, options = parse_args(argv)
    if options.if_missing:
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
