"""The training config: one typed dataclass, validated before any data is read.

`training/config.json` holds the shipped model's values; `stanceframe train` options on
the command line override them; the resolved config is saved next to the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from model.encoding import CONTEXT_MODES

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_DIR / "training" / "config.json"
ENCODER_LAYERS = 6


class ConfigError(ValueError):
    """A training option is out of range; raised before any work starts."""


@dataclass
class TrainConfig:
    """Everything that determines the trained model. Saved, resolved, next to the weights."""

    data_files: list[str] = field(
        default_factory=lambda: ["training/data/seed_sentences.jsonl"],
        metadata={"help": "Labeled JSONL files to train on (id, text, stance, frame), relative to the project."},
    )
    dev_files: list[str] = field(
        default_factory=list,
        metadata={
            "help": "The blind development set (labeled JSONL): never trained on; calibration, low-confidence "
            "thresholds and the int8 check are fitted or run on it. Empty: no calibration."
        },
    )
    output_dir: str = field(default="build/model", metadata={"help": "Where the trained model folder is written."})
    base_model: str = field(
        default="",
        metadata={"help": "Encoder folder to start from; empty means the offline all-MiniLM-L6-v2 package."},
    )
    seed: int = field(default=13, metadata={"help": "The one random seed for initialisation and shuffling."})
    average_seeds: int = field(
        default=1,
        metadata={"help": "Fine-tune this many copies (seeds seed, seed+1, ...) and average their weights."},
    )
    epochs: int = field(default=4, metadata={"help": "Passes over the training data per fit."})
    batch_size: int = field(default=16, metadata={"help": "Sentences per optimiser step."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate of the encoder."})
    head_learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate of the two heads."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and LayerNorm)."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with linear warm-up."})
    max_length: int = field(
        default=128, metadata={"help": "Model window in tokens (sentence and context); longer sentences are truncated."}
    )
    trainable_layers: int = field(
        default=ENCODER_LAYERS,
        metadata={"help": f"How many of the top encoder layers are fine-tuned (0-{ENCODER_LAYERS}); the rest stay frozen."},
    )
    freeze_word_embeddings: bool = field(
        default=True,
        metadata={"help": "Keep the 30k-row word embedding table fixed: steps about a third faster, less overfitting."},
    )
    context_mode: str = field(
        default="none",
        metadata={"help": f"The context read with each sentence as a second segment: one of {list(CONTEXT_MODES)}."},
    )
    context_max_tokens: int = field(default=48, metadata={"help": "Most context tokens per sentence."})
    context_dropout: float = field(
        default=0.0,
        metadata={"help": "Share of training sentences shown without their context, so that the model also "
                  "works when a caller gives none."},
    )
    contrastive_pairs: int = field(
        default=0,
        metadata={"help": "Sentence pairs of a SetFit-style contrastive stage on the stance labels before the "
                  "heads are trained (0: no such stage)."},
    )
    label_smoothing: float = field(default=0.0, metadata={"help": "Label smoothing of both cross-entropy losses."})
    class_balanced: bool = field(
        default=True, metadata={"help": "Weight each class's loss by inverse frequency (sklearn 'balanced')."}
    )
    stance_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the stance loss in the sum."})
    frame_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the frame loss in the sum."})
    low_confidence_share: float = field(
        default=0.15,
        metadata={"help": "Per head, the share of development-set predictions below the low-confidence threshold."},
    )
    max_steps: int = field(default=0, metadata={"help": "Stop each fit after this many steps (0: no limit). For smoke tests."})
    limit: int = field(default=0, metadata={"help": "Use only the first N training sentences (0: all). For smoke tests."})
    export_onnx: bool = field(
        default=True, metadata={"help": "Also export ONNX fp32 and int8 files for the ONNX Runtime backends."}
    )
    register: bool = field(default=True, metadata={"help": "Register the result in the BentoML model store."})

    def __post_init__(self) -> None:
        problems = []
        if not self.data_files:
            problems.append("data_files is empty; name at least one labeled JSONL file")
        overlap = set(self.data_files) & set(self.dev_files)
        if overlap:
            problems.append(f"{sorted(overlap)} is both training and development data; the dev set is never trained on")
        for name, low, high in (
            ("average_seeds", 1, 20), ("epochs", 1, 100), ("batch_size", 1, 1024), ("max_length", 16, 512),
            ("trainable_layers", 0, ENCODER_LAYERS), ("context_max_tokens", 0, 256), ("max_steps", 0, None),
            ("contrastive_pairs", 0, None),
            ("limit", 0, None),
        ):
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                problems.append(f"{name} must be in [{low}, {high if high is not None else 'inf'}], found {value}")
        for name in ("learning_rate", "head_learning_rate"):
            if not 0 < getattr(self, name) < 1:
                problems.append(f"{name} must be in (0, 1), found {getattr(self, name)}")
        for name in ("weight_decay", "warmup_ratio", "context_dropout", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), found {getattr(self, name)}")
        if not 0 < self.low_confidence_share < 1:
            problems.append(f"low_confidence_share must be in (0, 1), found {self.low_confidence_share}")
        if self.context_mode not in CONTEXT_MODES:
            problems.append(f"context_mode must be one of {list(CONTEXT_MODES)}, found {self.context_mode!r}")
        if self.stance_loss_weight < 0 or self.frame_loss_weight < 0 or not (self.stance_loss_weight + self.frame_loss_weight):
            problems.append("stance_loss_weight and frame_loss_weight must be >= 0 and not both 0")
        if problems:
            raise ConfigError("Invalid training config: " + "; ".join(problems) + ".")

    @classmethod
    def from_saved(cls, path: Path) -> TrainConfig:
        """The config saved next to a model, ignoring keys this version does not know."""
        values = json.loads(Path(path).read_text())
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def project_path(path: str) -> Path:
    """A path from a config or the command line: absolute, relative to here, or to the project."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else PROJECT_DIR / candidate
