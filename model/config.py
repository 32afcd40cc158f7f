"""The model config: a BERT config plus the label lists, calibration and window.

Kept apart from `model.network` so that the ONNX Runtime backends load without importing
the torch modeling code (seconds of start-up in the CLI and the service).
"""

from __future__ import annotations

from transformers import BertConfig

from model.labels import FRAME_LABELS, STANCE_LABELS


class StanceFrameConfig(BertConfig):
    """A BERT config plus the label lists, calibration (temperatures, stance prior shift) and the window."""

    model_type = "stanceframe"

    def __init__(
        self,
        stance_labels: list[str] | None = None,
        frame_labels: list[str] | None = None,
        stance_temperature: float = 1.0,
        frame_temperature: float = 1.0,
        stance_logit_bias: list[float] | None = None,
        max_seq_length: int = 128,
        classifier_dropout: float | None = 0.1,
        **kwargs,
    ):
        super().__init__(classifier_dropout=classifier_dropout, **kwargs)
        self.stance_labels = list(stance_labels or STANCE_LABELS)
        self.frame_labels = list(frame_labels or FRAME_LABELS)
        self.stance_temperature = float(stance_temperature)
        self.frame_temperature = float(frame_temperature)
        self.stance_logit_bias = [float(b) for b in (stance_logit_bias or [0.0] * len(self.stance_labels))]
        self.max_seq_length = int(max_seq_length)
