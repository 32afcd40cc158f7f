"""The worker's inference scheduler: one model thread, interactive requests first, no learned waits.

BentoML's adaptive batcher decides how long to hold a request for company from the waits
it saw recently. After a burst it has seen long waits, so a lone request is held for about
100 ms, and it takes minutes to unlearn (issue #18). This scheduler never holds a request
back: while the model is free, whatever is queued goes in one batch at once; while the
model is busy, requests queue up and make the next batch. That gives single requests the
model's own latency when traffic is light and full batches when it is heavy.

Requests of at most `interactive_sentences` sentences go before everything else. Larger
ones (bulk /classify calls, /analyze articles) are run in slices of `bulk_slice`
sentences, one slice per model step, so an interactive request waits for at most one
slice. Work whose deadline has passed, or whose caller has gone, is dropped before it
reaches the model.

A request may bring its own model function (`run`, e.g. /explain's predictions with
neighbours and attributions): it goes through the same queues, slices and the one model
thread, and shares a batch only with requests of that same function. It may also set its
own slice size, which makes it bulk work: word attributions run one sentence per model
step (a sentence costs one row per word), so interactive requests wait for one sentence.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model.predictor import DeadlineExceeded


@dataclass(eq=False)
class Job:
    texts: Sequence[str]
    contexts: Sequence[str]
    deadline: float
    future: asyncio.Future
    # The job's own model function; None: the scheduler's.
    run: Callable[[list[str], list[str]], list] | None = None
    # Sentences per model step for this job; None: the scheduler's bulk slice (and interactive when small).
    slice_size: int | None = None
    results: list = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.results)


class InferenceScheduler:
    def __init__(
        self,
        run: Callable[[list[str], list[str]], list],
        max_batch: int,
        interactive_sentences: int,
        bulk_slice: int,
    ):
        self.run = run
        self.max_batch = max_batch
        self.interactive_sentences = interactive_sentences
        self.bulk_slice = bulk_slice
        self.interactive: collections.deque[Job] = collections.deque()
        self.bulk: collections.deque[Job] = collections.deque()
        # One inference thread: the model's own threads (torch or ONNX Runtime) do the math.
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="stanceframe-model")
        self.wake: asyncio.Event | None = None
        self.consumer: asyncio.Task | None = None

    async def predict(
        self, texts: Sequence[str], contexts: Sequence[str], deadline: float,
        run: Callable[[list[str], list[str]], list] | None = None, slice_size: int | None = None,
    ) -> list:
        """Predictions for `texts` in order, once the model (or `run`, in its place) has run them."""
        if not texts:
            return []
        if self.consumer is None:
            # Created in the serving event loop on first use, never at import.
            self.wake = asyncio.Event()
            self.consumer = asyncio.get_running_loop().create_task(self._consume())
        job = Job(texts, contexts, deadline, asyncio.get_running_loop().create_future(), run, slice_size)
        interactive = slice_size is None and len(texts) <= self.interactive_sentences
        (self.interactive if interactive else self.bulk).append(job)
        self.wake.set()
        return await job.future

    def _next_batch(self) -> list[tuple[Job, int, int]]:
        """(job, start, end) pieces for the next model step: queued interactive jobs, else one bulk slice."""
        now = time.monotonic()
        for queue in (self.interactive, self.bulk):
            # Drop work whose caller has gone (its future cancelled) or whose deadline has passed.
            while queue and (queue[0].future.done() or queue[0].deadline < now):
                job = queue.popleft()
                if not job.future.done():
                    job.future.set_exception(DeadlineExceeded("Dropped before inference: past the time limit."))
        pieces, size = [], 0
        while self.interactive and size + len(self.interactive[0].texts) <= self.max_batch:
            if pieces and self.interactive[0].run is not pieces[0][0].run:
                break
            job = self.interactive.popleft()
            pieces.append((job, 0, len(job.texts)))
            size += len(job.texts)
        if pieces or not self.bulk:
            return pieces
        job = self.bulk[0]
        end = min(job.done + (job.slice_size or self.bulk_slice), len(job.texts))
        return [(job, job.done, end)]

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while pieces := self._next_batch():
                texts = [text for job, start, end in pieces for text in job.texts[start:end]]
                contexts = [context for job, start, end in pieces for context in job.contexts[start:end]]
                run = pieces[0][0].run or self.run
                try:
                    predictions = await loop.run_in_executor(self.executor, run, texts, contexts)
                except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                    for job, _, _ in pieces:
                        self._finish(job, error=error)
                    continue
                offset = 0
                for job, start, end in pieces:
                    job.results.extend(predictions[offset : offset + end - start])
                    offset += end - start
                    if job.done == len(job.texts):
                        self._finish(job)

    def _finish(self, job: Job, error: BaseException | None = None) -> None:
        if job in self.bulk:
            self.bulk.remove(job)
        if job.future.done():
            return
        if error is None:
            job.future.set_result(job.results)
        else:
            job.future.set_exception(error)
