"""The StanceFrame HTTP service: one thin BentoML class around the shared predictor.

Processes and threads: one worker with two inference threads on a 2-core machine; see the
README's "Workers and batching" section for the measurements behind the choice.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from http import HTTPStatus

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from model.environment import OFFLINE_ENVIRONMENT
from model.explain import explain, neighbours_unavailable
from model.labels import FRAME_LABELS, STANCE_LABELS
from model.predictor import DEFAULT_BACKEND, ArticleTooLong, resolve_backend
from model.store import DEFAULT_REF
from service.batching import InferenceScheduler
from service.middleware import RequestGuard
from service.schemas import (
    DEFAULT_NEIGHBOURS,
    MAX_ARTICLE_CHARS,
    MAX_ARTICLE_SENTENCES,
    MAX_ATTRIBUTION_SENTENCES,
    MAX_BODY_BYTES,
    MAX_CORPUS_SENTENCES,
    MAX_METADATA_BYTES,
    MAX_SENTENCE_CHARS,
    MAX_SENTENCES,
    AnalyzeResponse,
    ArticleText,
    AttributionsWanted,
    ClassifyResponse,
    ColumnName,
    CorpusData,
    CorpusFormat,
    CorpusReport,
    ExplainResponse,
    Frequency,
    Metadata,
    MinSentences,
    ModelInfo,
    NeighbourCount,
    SentenceList,
)
from service.ui import ui_app

logger = logging.getLogger(__name__)

# One worker with two inference threads: with two workers, keep-alive clients that connect at
# once can all land on one worker (the listening socket is shared), and an interactive request
# waits behind the HTTP work of bulk requests in its process; one worker met the latency
# targets where two did not, at the same 64-client throughput (README, "Workers and batching").
WORKERS = int(os.environ.get("STANCEFRAME_WORKERS", "1"))
# Inference threads per worker (torch or ONNX Runtime).
THREADS = os.environ.get("STANCEFRAME_THREADS", "2")
BACKEND = os.environ.get("STANCEFRAME_BACKEND", DEFAULT_BACKEND)
# The inference scheduler (service/batching.py): requests of at most INTERACTIVE_SENTENCES
# sentences go first, in batches of up to MAX_BATCH_SENTENCES; larger ones run in slices of
# BULK_SLICE sentences, so an interactive request waits for at most one slice.
MAX_BATCH_SENTENCES = 128
INTERACTIVE_SENTENCES = 4
BULK_SLICE = 8
# Requests in flight per worker beyond which the service answers 429 (BentoML divides its
# service-wide max_concurrency by the number of workers). Twice the clients the bench runs:
# at 64 per worker, 64 closed-loop clients got 429s between a reply and their next call.
MAX_IN_FLIGHT = int(os.environ.get("STANCEFRAME_MAX_IN_FLIGHT", "128"))
TIMEOUT_SECONDS = 60
# A request body must arrive within this time: a slow client would hold a concurrency slot.
BODY_SECONDS = float(os.environ.get("STANCEFRAME_BODY_SECONDS", "30"))
LIMITS = {
    "max_sentences": MAX_SENTENCES,
    "max_sentence_chars": MAX_SENTENCE_CHARS,
    "max_article_chars": MAX_ARTICLE_CHARS,
    "max_article_sentences": MAX_ARTICLE_SENTENCES,
    "max_attribution_sentences": MAX_ATTRIBUTION_SENTENCES,
    "max_body_bytes": MAX_BODY_BYTES,
    "max_metadata_bytes": MAX_METADATA_BYTES,
    "max_corpus_sentences": MAX_CORPUS_SENTENCES,
    "body_seconds": BODY_SECONDS,
    "max_in_flight_per_worker": MAX_IN_FLIGHT,
    "timeout_seconds": TIMEOUT_SECONDS,
}
WARM_UP_SENTENCES = [
    "China will continue to play a constructive role for a ceasefire to stop the war.",
    "Critics say Beijing cannot be an honest broker while it refuses to condemn the invasion.",
]


def die_with_parent() -> None:
    """Have the kernel kill this worker when the server process that started it dies.

    BentoML starts each worker in a process group of its own, so stopping the server
    (TERM, then KILL) while a worker is busy in a request would leave that worker running,
    holding the listening socket.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@bentoml.service(
    name="stanceframe",
    workers=WORKERS,
    # Threads for the synchronous endpoint (/model_info); inference runs on the scheduler's own thread.
    threads=2,
    # Beyond MAX_IN_FLIGHT requests on a worker the service answers 429 instead of queueing without bound.
    traffic={"timeout": TIMEOUT_SECONDS, "max_concurrency": MAX_IN_FLIGHT * WORKERS},
    envs=[
        {"name": "OMP_NUM_THREADS", "value": THREADS},
        {"name": "MKL_NUM_THREADS", "value": THREADS},
        *({"name": name, "value": value} for name, value in OFFLINE_ENVIRONMENT.items()),
    ],
)
class StanceFrame:
    """Stance and frame of news sentences about China's Ukraine peace plan."""

    stored_model = bentoml.models.BentoModel(DEFAULT_REF)

    def __init__(self) -> None:
        die_with_parent()
        self.predictor = None
        self.load_error: BaseException | None = None
        # Why /explain cannot give neighbours with this model (no index, or no pooled output), if it cannot.
        self.no_neighbours: str | None = None
        self.ready = threading.Event()
        # Resolve now so a missing model fails the start-up loudly; load and warm up in the
        # background so /readyz can answer 503 until the model is usable.
        self.model_dir, self.model_tag = self.stored_model.path, str(self.stored_model.tag)
        self.metadata = dict(self.stored_model.info.metadata)
        self.backend = resolve_backend(self.model_dir, BACKEND)
        self.scheduler = InferenceScheduler(
            run=lambda texts, contexts: self._ready_predictor().predict(texts, contexts),
            max_batch=MAX_BATCH_SENTENCES, interactive_sentences=INTERACTIVE_SENTENCES, bulk_slice=BULK_SLICE,
        )
        threading.Thread(target=self._load, name="stanceframe-warm-up", daemon=True).start()

    def _load(self) -> None:
        try:
            from model.predictor import Predictor

            predictor = Predictor.from_directory(
                self.model_dir, self.model_tag, backend=self.backend, threads=int(THREADS)
            )
            predictor.predict(WARM_UP_SENTENCES)
            predictor.analyze(" ".join(WARM_UP_SENTENCES))
            # Loads and checks the neighbour index now, not in the first /explain request.
            self.no_neighbours = neighbours_unavailable(predictor)
            if self.no_neighbours:
                logger.warning("/explain will give no neighbours: %s", self.no_neighbours)
            self.predictor = predictor
            self.ready.set()
            logger.info("Model %s loaded and warmed up", self.model_tag)
        except Exception as error:  # noqa: BLE001 - kept and reported by /readyz and every call
            self.load_error = error
            logger.exception("Loading %s failed", self.model_tag)

    def __is_ready__(self) -> bool:
        return self.ready.is_set()

    def _ready_predictor(self):
        if self.predictor is None:
            reason = f"loading failed: {self.load_error}" if self.load_error else "the model is still loading"
            raise ServiceUnavailable(f"Not ready: {reason}.")
        return self.predictor

    @bentoml.api
    async def classify(self, sentences: SentenceList) -> ClassifyResponse:
        """Label each sentence with stance and frame; the predictions come back in order."""
        self._ready_predictor()
        texts = [item if isinstance(item, str) else item.text for item in sentences]
        contexts = ["" if isinstance(item, str) else item.context for item in sentences]
        predictions = await self.scheduler.predict(texts, contexts, deadline())
        return predictions

    @bentoml.api
    async def analyze(self, text: ArticleText, metadata: Metadata = {}) -> AnalyzeResponse:  # noqa: B006 (pydantic copies it)
        """Split an article into sentences, label each one in context and summarize the article (metadata is echoed)."""
        predictor = self._ready_predictor()
        try:
            # Segmentation off the event loop: a 100,000-character article takes a while.
            segments, contexts = await asyncio.to_thread(predictor.article_sentences, text, MAX_ARTICLE_SENTENCES)
        except ArticleTooLong as error:
            raise invalid_field("text", "too_many_sentences", str(error)) from error
        predictions = await self.scheduler.predict([s.text for s in segments], contexts, deadline())
        analysis = predictor.analysis_of(segments, predictions)
        return AnalyzeResponse(**dict(analysis), metadata=metadata)

    @bentoml.api
    async def corpus(
        self, data: CorpusData, format: CorpusFormat = "jsonl", by: ColumnName | None = None,
        time: ColumnName | None = None, freq: Frequency = "week", min_sentences: MinSentences = 30,
        text_field: ColumnName = "text", id_field: ColumnName = "id",
    ) -> CorpusReport:
        """Score a JSONL or CSV of articles and report stance and frames by group (e.g. outlet) and period, with intervals."""
        from model.batch_io import Fields, InputError
        from model.corpus import ReportConfig, ReportError
        from service.corpus_view import CorpusTooLarge, ScheduledPredictor, corpus_report, scored_rows

        predictor = self._ready_predictor()
        try:
            config = ReportConfig(by=by, time=time, freq=freq, min_sentences=min_sentences)
            scheduled = ScheduledPredictor(predictor, self.scheduler, asyncio.get_running_loop(), deadline(),
                                           MAX_CORPUS_SENTENCES)
            rows = await asyncio.to_thread(scored_rows, data, format, Fields(text_field, id_field), config, scheduled,
                                           config.url_column)
            # Bootstrap and rendering off the event loop too: interactive requests keep flowing.
            return CorpusReport(**await asyncio.to_thread(corpus_report, rows, config))
        except (InputError, ReportError, CorpusTooLarge) as error:
            raise ValidationError.from_exception_data(
                "Input",
                [InitErrorDetails(type=PydanticCustomError("unusable_corpus", str(error)), loc=("data",), input="")],
            ) from error

    @bentoml.api
    async def explain(
        self,
        sentences: SentenceList,
        neighbours: NeighbourCount = DEFAULT_NEIGHBOURS,
        attributions: AttributionsWanted = False,
    ) -> ExplainResponse:
        """Label each sentence and say why: its most similar labeled training sentences (with their gold labels)
        and, when asked, how much each word moved the predicted stance."""
        predictor = self._ready_predictor()
        if neighbours and self.no_neighbours:
            raise BentoMLException(self.no_neighbours, error_code=HTTPStatus.NOT_IMPLEMENTED)
        texts = [item if isinstance(item, str) else item.text for item in sentences]
        contexts = ["" if isinstance(item, str) else item.context for item in sentences]

        def runner(with_attributions: bool):
            def run(batch_texts: list[str], batch_contexts: list[str]) -> list:
                return explain(predictor, batch_texts, batch_contexts, neighbours, with_attributions)

            return run

        # Attributions for the first sentences only (each costs a model run per word), one sentence per
        # model step, so an interactive request waits for at most one sentence's words.
        attributed = MAX_ATTRIBUTION_SENTENCES if attributions else 0
        until = deadline()
        explained = []
        if attributed:
            explained += await self.scheduler.predict(texts[:attributed], contexts[:attributed], until,
                                                      run=runner(True), slice_size=1)
        if texts[attributed:]:
            explained += await self.scheduler.predict(texts[attributed:], contexts[attributed:], until,
                                                      run=runner(False))
        return explained

    @bentoml.api
    def model_info(self) -> ModelInfo:
        """The serving model's tag, label sets, thresholds, request caps and development-set metrics."""
        config = self._ready_predictor().config
        dev = self.metadata.get("metrics", {}).get("dev", {})
        return ModelInfo(
            tag=self.model_tag,
            backend=self.backend,
            stance_labels=list(STANCE_LABELS),
            frame_labels=list(FRAME_LABELS),
            context_mode=config.context_mode,
            low_confidence_thresholds={
                head: getattr(config, f"{head}_confidence_threshold") for head in ("stance", "frame")
            },
            limits=LIMITS,
            data_hash=self.metadata.get("data_hash", ""),
            metrics={
                head: {name: value for name, value in dev[head].items() if isinstance(value, float)}
                for head in ("stance", "frame")
                if head in dev
            },
        )


def invalid_field(field: str, kind: str, message: str) -> ValidationError:
    """A validation error of one request field: its 400 has the same shape as every other invalid input's
    (BentoML wraps a BadInput's body in a list)."""
    return ValidationError.from_exception_data(
        "Input", [InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input="")]
    )


def deadline() -> float:
    """When a request's work must stop: by then the client has had its 504."""
    return time.monotonic() + TIMEOUT_SECONDS


StanceFrame.add_asgi_middleware(
    RequestGuard, api_paths=("/classify", "/analyze", "/explain", "/corpus", "/model_info"), max_body_bytes=MAX_BODY_BYTES,
    body_seconds=BODY_SECONDS, limits=LIMITS,
)
StanceFrame.mount_asgi_app(ui_app, path="/ui")
