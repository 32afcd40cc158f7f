"""The one predictor behind the HTTP service, the batch CLI and evaluation.

Sentences (with optional context) in, stance and frame with calibrated probabilities
out. Inputs are encoded by `model/encoding.py`, sorted by token length and batched with
dynamic padding; a sentence longer than the model window is truncated explicitly and
flagged. The network is a torch module or an ONNX Runtime session behind one numpy
interface; torch is imported only to load the torch backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.encoding import Encoded, article_contexts, encode, pad_batch
from model.labels import FRAME_LABELS, STANCE_LABELS, check_saved_labels
from model.schema import AnalyzedSentence, ArticleAnalysis, ArticleSummary, Prediction
from model.segment import Segment, split_sentences

DEFAULT_BATCH_SIZE = 32
BACKENDS = ("auto", "torch", "onnx-fp32", "onnx-int8")
# `auto` is onnx-int8 when the model's int8 export passed its accuracy check at training
# time (training/int8_check.py), else ONNX fp32, else torch (see resolve_backend).
DEFAULT_BACKEND = "auto"


@dataclass
class HeadProbabilities:
    """Calibrated probabilities per head, rows in input order, plus the truncation flags."""

    stance: np.ndarray
    frame: np.ndarray
    truncated: np.ndarray


class ArticleTooLong(ValueError):
    """An article has more sentences than the caller allows."""


class DeadlineExceeded(TimeoutError):
    """The work passed its deadline and was dropped (by the service's scheduler) before inference."""


class EmbeddingsUnavailable(RuntimeError):
    """The loaded network cannot give pooled embeddings (an ONNX export made before it had that output)."""


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
        softmax(frame_logits, config.frame_temperature, config.frame_logit_bias),
    )


def summarize(predictions: Sequence[Prediction]) -> ArticleSummary:
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
    return ArticleSummary.model_construct(
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
    """The backend `backend` names for the model in `model_dir` (`auto` resolved).

    `auto` is onnx-int8 when the model's int8 check passed, else onnx-fp32 when the model
    has an ONNX export (it matches torch; the Bento has no torch), else torch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {list(BACKENDS)}.")
    if backend != "auto":
        return backend
    from model.onnx_backend import ONNX_DIR, ONNX_FILES, int8_check_passed

    if int8_check_passed(model_dir):
        return "onnx-int8"
    return "onnx-fp32" if (Path(model_dir) / ONNX_DIR / ONNX_FILES["onnx-fp32"]).is_file() else "torch"


class Predictor:
    """Wraps a loaded two-head network and its tokenizer; create it once and reuse it.

    `network` is called with numpy `input_ids`, `attention_mask` and `token_type_ids` and
    returns numpy (stance, frame) logits: `TorchNetwork` or `OnnxNetwork`. When its
    `has_pooled` is true, its `with_pooled` also returns the pooled sentence representation
    of the same pass (what `embed` gives).
    """

    def __init__(
        self, network, tokenizer, model_tag: str, batch_size: int = DEFAULT_BATCH_SIZE, backend: str = "torch",
        model_dir: Path | None = None,
    ):
        self.network = network
        self.model_dir = model_dir
        self.config = network.config
        self.tokenizer = tokenizer
        self.model_tag = model_tag
        self.batch_size = batch_size
        self.backend = backend
        self.max_length = int(self.config.max_seq_length)
        self._neighbour_index = None

    @classmethod
    def for_module(cls, module, tokenizer, model_tag: str, **kwargs) -> Predictor:
        """A predictor around an in-memory torch `StanceFrameModel` (training and evaluation)."""
        from model.network import TorchNetwork

        return cls(TorchNetwork(module), tokenizer, model_tag, **kwargs)

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

        `backend` is `torch` (fp32), `onnx-fp32` or `onnx-int8` (ONNX Runtime), or `auto`
        (see `resolve_backend`). `threads` sets the inference
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
            try:
                import torch
            except ImportError as error:
                raise ImportError(
                    "The torch backend needs torch, which this environment (the service's requirements, as "
                    "in the Bento) does not install. Use the onnx-fp32 or onnx-int8 backend, or install "
                    "the full package (pip install torch==2.13.0 -e .)."
                ) from error

            from model.network import StanceFrameModel, TorchNetwork

            if threads:
                torch.set_num_threads(threads)
            network = TorchNetwork(StanceFrameModel.from_pretrained(model_dir, config=config))
        else:
            from model.onnx_backend import OnnxNetwork

            network = OnnxNetwork.load(model_dir, backend, config, threads=threads)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        return cls(network, tokenizer, model_tag or str(model_dir), backend=backend, model_dir=model_dir, **kwargs)

    @classmethod
    def load(cls, ref: str | None = None, **kwargs) -> Predictor:
        """Load from a model folder path, or a BentoML store tag (default `stanceframe:latest`)."""
        from model.store import resolve_model

        model_dir, tag = resolve_model(ref)
        return cls.from_directory(model_dir, tag, **kwargs)

    @property
    def uses_context(self) -> bool:
        """Whether the model was trained to read context (`contexts` are ignored otherwise)."""
        return self.config.context_mode != "none"

    def contexts_of(self, texts: Sequence[str]) -> list[str] | None:
        """The context of each sentence of one article, by the model's context mode."""
        return article_contexts(texts, self.config.context_mode) if self.uses_context else None

    def logits(
        self, sentences: Sequence[str], contexts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw stance and frame logits in input order, and the truncation flags."""
        stance, frame, _, truncated = self._forward(sentences, contexts, with_pooled=False)
        return stance, frame, truncated

    def embed(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """The model's pooled sentence embeddings, L2-normalised: float32, shape (len(sentences), hidden size).

        The representation both heads read (mean over the sentence's own tokens, context
        attended to but not pooled), so cosine similarity is a dot product. Raises
        EmbeddingsUnavailable for an ONNX export made before it had the pooled output.
        """
        return self._forward(sentences, contexts, with_pooled=True)[2]

    def predict_and_embed(
        self, sentences: Sequence[str], contexts: Sequence[str] | None = None
    ) -> tuple[list[Prediction], np.ndarray]:
        """`predict` and `embed` of the same sentences from one forward pass."""
        stance_logits, frame_logits, embeddings, truncated = self._forward(sentences, contexts, with_pooled=True)
        return self._predictions(stance_logits, frame_logits, truncated), embeddings

    def neighbour_index(self):
        """The labeled training sentences saved with the model (`model/neighbours.py`), loaded and checked on first use."""
        if self._neighbour_index is None:
            from model.neighbours import NeighbourIndex, NeighbourIndexError

            if self.model_dir is None:
                raise NeighbourIndexError(f"{self.model_tag} is an in-memory network without a model folder: no neighbour index.")
            self._neighbour_index = NeighbourIndex.load(self.model_dir, self.backend)
        return self._neighbour_index

    def _forward(
        self, sentences: Sequence[str], contexts: Sequence[str] | None, with_pooled: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Logits, (when `with_pooled`) normalised embeddings and the truncation flags, in input order."""
        if with_pooled and not getattr(self.network, "has_pooled", False):
            raise EmbeddingsUnavailable(
                f"The model {self.model_tag} on the {self.backend} backend was exported before the pooled sentence "
                f"embedding was an ONNX output, so it cannot give embeddings or nearest neighbours (it still "
                f"predicts). Retrain with `stanceframe train`, or use the torch backend."
            )
        encoded = self.encode(sentences, contexts)
        return *self.run_encoded(encoded, with_pooled), encoded.truncated

    def encode(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> Encoded:
        """The token ids the network reads for each sentence (with its context when the model reads context)."""
        if not sentences:
            return Encoded(input_ids=[], token_type_ids=[], truncated=np.zeros(0, dtype=bool))
        return encode(
            self.tokenizer,
            sentences,
            contexts if self.uses_context else None,
            self.max_length,
            self.config.context_max_tokens,
        )

    def run_encoded(self, encoded: Encoded, with_pooled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Logits of both heads and (when `with_pooled`) normalised embeddings of encoded inputs, in input order.

        Length-sorted batches with dynamic padding; `Encoded` inputs let explanations run
        edited token sequences (a word left out) through the same path.
        """
        n_stance, n_frame = len(self.config.stance_labels), len(self.config.frame_labels)
        stance = np.zeros((len(encoded), n_stance), dtype=np.float32)
        frame = np.zeros((len(encoded), n_frame), dtype=np.float32)
        pooled = np.zeros((len(encoded), int(self.config.hidden_size)), dtype=np.float32) if with_pooled else None
        if not len(encoded):
            return stance, frame, pooled
        order = np.argsort(encoded.lengths(), kind="stable")
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin : begin + self.batch_size]
            batch = pad_batch(encoded, rows, self.tokenizer.pad_token_id)
            if with_pooled:
                stance[rows], frame[rows], pooled[rows] = self.network.with_pooled(**batch)
            else:
                stance[rows], frame[rows] = self.network(**batch)
        if with_pooled:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return stance, frame, pooled

    def probabilities(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> HeadProbabilities:
        stance_logits, frame_logits, truncated = self.logits(sentences, contexts)
        stance, frame = calibrated(stance_logits, frame_logits, self.config)
        return HeadProbabilities(stance=stance, frame=frame, truncated=truncated)

    def predict(self, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        """Stance, frame and their full probability distributions for each sentence."""
        return self._predictions(*self.logits(sentences, contexts))

    def _predictions(self, stance_logits: np.ndarray, frame_logits: np.ndarray, truncated: np.ndarray) -> list[Prediction]:
        stance, frame = calibrated(stance_logits, frame_logits, self.config)
        stance_threshold = self.config.stance_confidence_threshold
        frame_threshold = self.config.frame_confidence_threshold
        predictions = []
        for stance_row, frame_row, truncated in zip(stance, frame, truncated):
            stance_top, frame_top = int(stance_row.argmax()), int(frame_row.argmax())
            predictions.append(
                # model_construct: the values come from the model, not from a caller to validate.
                Prediction.model_construct(
                    stance=STANCE_LABELS[stance_top],
                    stance_scores={label: float(p) for label, p in zip(STANCE_LABELS, stance_row)},
                    frame=FRAME_LABELS[frame_top],
                    frame_scores={label: float(p) for label, p in zip(FRAME_LABELS, frame_row)},
                    low_confidence=bool(stance_row[stance_top] < stance_threshold or frame_row[frame_top] < frame_threshold),
                    truncated=bool(truncated),
                )
            )
        return predictions

    def article_sentences(self, text: str, max_sentences: int | None = None) -> tuple[list[Segment], list[str]]:
        """The article's sentences (offsets into `text`) and the context of each for this model.

        More than `max_sentences` sentences raises ArticleTooLong, before any inference.
        """
        segments = split_sentences(text)
        if max_sentences is not None and len(segments) > max_sentences:
            raise ArticleTooLong(
                f"The article has {len(segments)} sentences; at most {max_sentences} are accepted per request. "
                f"Split it, or raise STANCEFRAME_MAX_ARTICLE_SENTENCES."
            )
        texts = [segment.text for segment in segments]
        return segments, self.contexts_of(texts) or [""] * len(texts)

    def analysis_of(self, segments: Sequence[Segment], predictions: Sequence[Prediction]) -> ArticleAnalysis:
        """The article's sentences with their predictions, and the summary."""
        sentences = [
            AnalyzedSentence.model_construct(**dict(prediction), index=i, start=seg.start, end=seg.end, text=seg.text)
            for i, (seg, prediction) in enumerate(zip(segments, predictions))
        ]
        return ArticleAnalysis.model_construct(sentences=sentences, summary=summarize(predictions), model=self.model_tag)

    def analyze(self, text: str, max_sentences: int | None = None) -> ArticleAnalysis:
        """Split an article into sentences, label each in context, and summarize."""
        segments, contexts = self.article_sentences(text, max_sentences)
        return self.analysis_of(segments, self.predict([s.text for s in segments], contexts))
