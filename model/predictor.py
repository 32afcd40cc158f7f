"""The one predictor behind the HTTP service, the batch CLI and evaluation.

Sentences in, stance and frame with calibrated probabilities out. Inputs are sorted by
token length and batched with dynamic padding under `torch.inference_mode`; a sentence
longer than the model window is truncated explicitly and flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, STANCE_LABELS, check_saved_labels
from model.segment import split_sentences

DEFAULT_BATCH_SIZE = 32
BACKENDS = ("auto", "torch", "onnx-fp32", "onnx-int8")
# `auto` is onnx-int8 when the model's int8 export passed its accuracy check at training
# time (training/int8_check.py), else torch fp32.
DEFAULT_BACKEND = "auto"
# A prediction is flagged low-confidence when a head's top calibrated probability is below
# its threshold (see the model card for how often that happens and how accurate those are).
STANCE_CONFIDENCE_THRESHOLD = 0.5
FRAME_CONFIDENCE_THRESHOLD = 0.4


@dataclass
class SentencePrediction:
    stance: str
    stance_scores: dict[str, float]
    frame: str
    frame_scores: dict[str, float]
    low_confidence: bool
    truncated: bool


@dataclass
class SentenceAnalysis(SentencePrediction):
    index: int = 0
    start: int = 0
    end: int = 0
    text: str = ""


@dataclass
class ArticleSummary:
    sentences: int
    stance_counts: dict[str, int]
    stance_shares: dict[str, float]
    mean_stance_scores: dict[str, float]
    mean_frame_scores: dict[str, float]
    frame_counts: dict[str, int]
    dominant_frames: list[str]
    net_stance: float


@dataclass
class ArticleAnalysis:
    sentences: list[SentenceAnalysis]
    summary: ArticleSummary
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HeadProbabilities:
    """Calibrated probabilities per head, rows in input order, plus the truncation flags."""

    stance: np.ndarray
    frame: np.ndarray
    truncated: np.ndarray


def softmax(logits: np.ndarray, temperature: float = 1.0, bias: Sequence[float] | None = None) -> np.ndarray:
    """Softmax of `logits / temperature + bias`: temperature scaling, then a prior shift."""
    scaled = logits / temperature
    if bias is not None:
        scaled = scaled + np.asarray(bias, dtype=scaled.dtype)
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def calibrated(stance_logits: np.ndarray, frame_logits: np.ndarray, config) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities the product reports, from raw logits and the model config."""
    return (
        softmax(stance_logits, config.stance_temperature, config.stance_logit_bias),
        softmax(frame_logits, config.frame_temperature),
    )


def summarize(predictions: Sequence[SentencePrediction]) -> ArticleSummary:
    """Article-level summary: stance counts and shares, mean probabilities, dominant frames."""
    total = len(predictions)
    stance_counts = Counter(p.stance for p in predictions)
    frame_counts = Counter(p.frame for p in predictions)

    def mean_scores(labels: Sequence[str], attribute: str) -> dict[str, float]:
        if not total:
            return {label: 0.0 for label in labels}
        return {
            label: float(np.mean([getattr(p, attribute)[label] for p in predictions]))
            for label in labels
        }

    shares = {label: (stance_counts[label] / total if total else 0.0) for label in STANCE_LABELS}
    top_count = max(frame_counts.values(), default=0)
    return ArticleSummary(
        sentences=total,
        stance_counts={label: stance_counts[label] for label in STANCE_LABELS},
        stance_shares=shares,
        mean_stance_scores=mean_scores(STANCE_LABELS, "stance_scores"),
        mean_frame_scores=mean_scores(FRAME_LABELS, "frame_scores"),
        frame_counts={label: frame_counts[label] for label in FRAME_LABELS},
        dominant_frames=[label for label in FRAME_LABELS if top_count and frame_counts[label] == top_count],
        net_stance=shares["supportive"] - shares["skeptical"],
    )


def resolve_backend(model_dir: str | Path, backend: str) -> str:
    """The backend `backend` names for the model in `model_dir` (`auto` resolved)."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {list(BACKENDS)}.")
    if backend != "auto":
        return backend
    from model.onnx_backend import int8_check_passed

    return "onnx-int8" if int8_check_passed(model_dir) else "torch"


class Predictor:
    """Wraps a loaded two-head network and its tokenizer; create it once and reuse it."""

    def __init__(self, network, tokenizer, model_tag: str, batch_size: int = DEFAULT_BATCH_SIZE):
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.model_tag = model_tag
        self.batch_size = batch_size
        self.backend = "torch"
        self.max_length = int(network.config.max_seq_length)

    @classmethod
    def from_directory(
        cls,
        model_dir: str | Path,
        model_tag: str | None = None,
        backend: str = DEFAULT_BACKEND,
        threads: int | None = None,
        **kwargs,
    ) -> Predictor:
        """Load a `save_pretrained` folder; fails if its label lists differ from the schema.

        `backend` is `torch` (fp32), `onnx-fp32` or `onnx-int8` (ONNX Runtime), or `auto`:
        onnx-int8 if the model's int8 check passed, else torch. `threads` sets the inference
        threads (torch's, or the ONNX Runtime session's); None keeps the library default.
        """
        from transformers import AutoTokenizer

        from model.config import StanceFrameConfig

        model_dir = Path(model_dir)
        backend = resolve_backend(model_dir, backend)
        config = StanceFrameConfig.from_pretrained(model_dir)
        check_saved_labels("stance", config.stance_labels, str(model_dir))
        check_saved_labels("frame", config.frame_labels, str(model_dir))
        if backend == "torch":
            import torch

            from model.network import StanceFrameModel

            if threads:
                torch.set_num_threads(threads)
            network = StanceFrameModel.from_pretrained(model_dir, config=config)
        else:
            from model.onnx_backend import OnnxNetwork

            network = OnnxNetwork.load(model_dir, backend, config, threads=threads)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        predictor = cls(network, tokenizer, model_tag or str(model_dir), **kwargs)
        predictor.backend = backend
        return predictor

    @classmethod
    def load(cls, ref: str | None = None, **kwargs) -> Predictor:
        """Load from a model folder path, or a BentoML store tag (default `stanceframe:latest`)."""
        from model.store import resolve_model

        model_dir, tag = resolve_model(ref)
        return cls.from_directory(model_dir, tag, **kwargs)

    def _encode(self, sentences: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids per sentence, cut to the window explicitly, and which ones were cut."""
        encoded = self.tokenizer(list(sentences), add_special_tokens=True, truncation=False)["input_ids"]
        truncated = np.array([len(ids) > self.max_length for ids in encoded], dtype=bool)
        sep = self.tokenizer.sep_token_id
        ids = [seq[: self.max_length - 1] + [sep] if cut else seq for seq, cut in zip(encoded, truncated)]
        return ids, truncated

    def logits(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw stance and frame logits in input order, and the truncation flags."""
        import torch

        n_stance = len(self.network.config.stance_labels)
        n_frame = len(self.network.config.frame_labels)
        if not sentences:
            return (
                np.zeros((0, n_stance), dtype=np.float32),
                np.zeros((0, n_frame), dtype=np.float32),
                np.zeros(0, dtype=bool),
            )
        ids, truncated = self._encode(sentences)
        order = np.argsort([len(seq) for seq in ids], kind="stable")
        stance = np.empty((len(ids), n_stance), dtype=np.float32)
        frame = np.empty((len(ids), n_frame), dtype=np.float32)
        with torch.inference_mode():
            for begin in range(0, len(order), self.batch_size):
                rows = order[begin : begin + self.batch_size]
                batch = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in rows]}, padding=True, return_tensors="pt"
                )
                output = self.network(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                stance[rows] = np.asarray(output.stance_logits, dtype=np.float32)
                frame[rows] = np.asarray(output.frame_logits, dtype=np.float32)
        return stance, frame, truncated

    def probabilities(self, sentences: Sequence[str]) -> HeadProbabilities:
        stance_logits, frame_logits, truncated = self.logits(sentences)
        stance, frame = calibrated(stance_logits, frame_logits, self.network.config)
        return HeadProbabilities(stance=stance, frame=frame, truncated=truncated)

    def predict(self, sentences: Sequence[str]) -> list[SentencePrediction]:
        """Stance, frame and their full probability distributions for each sentence."""
        probs = self.probabilities(sentences)
        predictions = []
        for stance_row, frame_row, truncated in zip(probs.stance, probs.frame, probs.truncated):
            stance_top, frame_top = int(stance_row.argmax()), int(frame_row.argmax())
            predictions.append(
                SentencePrediction(
                    stance=STANCE_LABELS[stance_top],
                    stance_scores={label: float(p) for label, p in zip(STANCE_LABELS, stance_row)},
                    frame=FRAME_LABELS[frame_top],
                    frame_scores={label: float(p) for label, p in zip(FRAME_LABELS, frame_row)},
                    low_confidence=bool(
                        stance_row[stance_top] < STANCE_CONFIDENCE_THRESHOLD
                        or frame_row[frame_top] < FRAME_CONFIDENCE_THRESHOLD
                    ),
                    truncated=bool(truncated),
                )
            )
        return predictions

    def analyze(self, text: str) -> ArticleAnalysis:
        """Split an article into sentences (offsets into `text`), label each, and summarize."""
        segments = split_sentences(text)
        predictions = self.predict([segment.text for segment in segments])
        sentences = [
            SentenceAnalysis(**asdict(prediction), index=i, start=seg.start, end=seg.end, text=seg.text)
            for i, (seg, prediction) in enumerate(zip(segments, predictions))
        ]
        return ArticleAnalysis(sentences=sentences, summary=summarize(predictions), model=self.model_tag)
