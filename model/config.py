"""The model config: a BERT config plus the label lists, calibration, context and window.

Kept apart from `model.network` so that the ONNX Runtime backends load without importing
the torch modeling code (seconds of start-up in the CLI and the service).
"""

from __future__ import annotations

from transformers import BertConfig

from model.labels import FRAME_LABELS, STANCE_LABELS


class StanceFrameConfig(BertConfig):
    """A BERT config plus what the predictor needs besides the weights.

    The label lists; calibration (per-head temperatures and logit biases, fitted on
    the development set); the low-confidence thresholds chosen there; the context mode and
    the token budgets of sentence and context (`model/encoding.py`).
    """

    model_type = "stanceframe"

    def __init__(
        self,
        stance_labels: list[str] | None = None,
        frame_labels: list[str] | None = None,
        stance_temperature: float = 1.0,
        frame_temperature: float = 1.0,
        stance_logit_bias: list[float] | None = None,
        frame_logit_bias: list[float] | None = None,
        max_seq_length: int = 128,
        context_mode: str = "none",
        context_max_tokens: int = 0,
        stance_confidence_threshold: float = 0.5,
        frame_confidence_threshold: float = 0.4,
        classifier_dropout: float | None = 0.1,
        **kwargs,
    ):
        super().__init__(classifier_dropout=classifier_dropout, **kwargs)
        self.stance_labels = list(stance_labels or STANCE_LABELS)
        self.frame_labels = list(frame_labels or FRAME_LABELS)
        self.stance_temperature = float(stance_temperature)
        self.frame_temperature = float(frame_temperature)
        self.stance_logit_bias = [float(b) for b in (stance_logit_bias or [0.0] * len(self.stance_labels))]
        self.frame_logit_bias = [float(b) for b in (frame_logit_bias or [0.0] * len(self.frame_labels))]
        self.max_seq_length = int(max_seq_length)
        self.context_mode = str(context_mode)
        self.context_max_tokens = int(context_max_tokens)
        self.stance_confidence_threshold = float(stance_confidence_threshold)
        self.frame_confidence_threshold = float(frame_confidence_threshold)
