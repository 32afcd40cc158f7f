"""The worker's inference scheduler: no learned waits, batches under load, interactive first."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from model.predictor import DeadlineExceeded
from service.batching import InferenceScheduler


class FakeModel:
    """Records each batch it runs; each call takes `seconds`."""

    def __init__(self, seconds: float = 0.0, fail_on: str | None = None):
        self.seconds, self.fail_on = seconds, fail_on
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts, contexts):
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.seconds)
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return [f"{text}|{context}" for text, context in zip(texts, contexts)]


def scheduler_for(model: FakeModel, **options) -> InferenceScheduler:
    settings = {"max_batch": 64, "interactive_sentences": 4, "bulk_slice": 8} | options
    return InferenceScheduler(model, **settings)


def later(seconds: float = 60) -> float:
    return time.monotonic() + seconds


def test_a_lone_request_runs_at_once_and_keeps_its_order():
    model = FakeModel()
    scheduler = scheduler_for(model)

    async def main():
        started = time.monotonic()
        result = await scheduler.predict(["a", "b"], ["x", ""], later())
        return result, time.monotonic() - started

    result, waited = asyncio.run(main())
    assert result == ["a|x", "b|"]
    assert waited < 0.05, "no request is held back waiting for company"


def test_requests_that_arrive_while_the_model_is_busy_share_the_next_batch():
    model = FakeModel(seconds=0.05)
    scheduler = scheduler_for(model)

    async def main():
        first = asyncio.ensure_future(scheduler.predict(["first"], [""], later()))
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(scheduler.predict([f"s{i}"], [""], later())) for i in range(10)]
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(main())
    assert first == ["first|"] and [r[0] for r in rest] == [f"s{i}|" for i in range(10)]
    assert model.batches == [["first"], [f"s{i}" for i in range(10)]]


def test_an_interactive_request_waits_for_at_most_one_bulk_slice():
    model = FakeModel(seconds=0.02)
    scheduler = scheduler_for(model, bulk_slice=8)

    async def main():
        bulk = asyncio.ensure_future(scheduler.predict([f"b{i}" for i in range(80)], [""] * 80, later()))
        await asyncio.sleep(0.005)
        interactive = await scheduler.predict(["quick"], [""], later())
        return interactive, await bulk

    interactive, bulk = asyncio.run(main())
    assert interactive == ["quick|"] and bulk == [f"b{i}|" for i in range(80)]
    position = model.batches.index(["quick"])
    assert position <= 2, f"the interactive request ran after {position} bulk slices"
    assert all(len(batch) <= 8 for batch in model.batches)


def test_work_past_its_deadline_never_reaches_the_model():
    model = FakeModel(seconds=0.05)
    scheduler = scheduler_for(model)

    async def main():
        busy = asyncio.ensure_future(scheduler.predict(["busy"], [""], later()))
        await asyncio.sleep(0.01)
        with pytest.raises(DeadlineExceeded):
            await scheduler.predict(["late"], [""], time.monotonic() + 0.001)
        await busy

    asyncio.run(main())
    assert ["late"] not in model.batches


def test_a_failing_batch_fails_its_callers_only():
    model = FakeModel(fail_on="bad")
    scheduler = scheduler_for(model)

    async def main():
        with pytest.raises(RuntimeError, match="the model failed"):
            await scheduler.predict(["bad"], [""], later())
        return await scheduler.predict(["good"], [""], later())

    assert asyncio.run(main()) == ["good|"]


def test_bulk_work_whose_caller_has_gone_stops_at_the_next_slice():
    model = FakeModel(seconds=0.02)
    scheduler = scheduler_for(model, bulk_slice=8)

    async def main():
        bulk = asyncio.ensure_future(scheduler.predict([f"b{i}" for i in range(80)], [""] * 80, later()))
        await asyncio.sleep(0.03)  # a slice or two has run
        bulk.cancel()  # the client disconnected
        result = await scheduler.predict(["next"], [""], later())
        await asyncio.sleep(0.3)  # time for the other 8 slices, were they still run
        return result

    assert asyncio.run(main()) == ["next|"]
    bulk_slices = [batch for batch in model.batches if batch[0].startswith("b")]
    assert len(bulk_slices) <= 3, f"{len(bulk_slices)} slices of the cancelled request ran"


def test_a_request_with_its_own_model_function_runs_alone_on_the_same_model_thread():
    model = FakeModel(seconds=0.05)
    scheduler = scheduler_for(model)
    threads = []

    def explain(texts, contexts):
        threads.append(threading.current_thread().name)
        model.batches.append([f"why {text}" for text in texts])
        return [f"why {text}" for text in texts]

    async def main():
        busy = asyncio.ensure_future(scheduler.predict(["busy"], [""], later()))
        await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(scheduler.predict(["a"], [""], later())),
                  asyncio.ensure_future(scheduler.predict(["b", "c"], ["", ""], later(), run=explain)),
                  asyncio.ensure_future(scheduler.predict(["d"], [""], later()))]
        await busy
        return await asyncio.gather(*queued)

    assert asyncio.run(main()) == [["a|"], ["why b", "why c"], ["d|"]]
    # In queue order, never mixed into another function's batch, on the scheduler's one model thread.
    assert model.batches == [["busy"], ["a"], ["why b", "why c"], ["d"]]
    assert threads and all(name.startswith("stanceframe-model") for name in threads)


def test_a_job_with_its_own_slice_size_runs_that_many_sentences_per_step_behind_interactive_work():
    model = FakeModel(seconds=0.02)
    scheduler = scheduler_for(model, bulk_slice=8)

    async def main():
        sliced = asyncio.ensure_future(scheduler.predict(["w1", "w2", "w3"], [""] * 3, later(), slice_size=1))
        await asyncio.sleep(0.005)  # w1 is running
        quick = await scheduler.predict(["quick"], [""], later())
        return quick, await sliced

    quick, sliced = asyncio.run(main())
    assert quick == ["quick|"] and sliced == ["w1|", "w2|", "w3|"]
    assert model.batches == [["w1"], ["quick"], ["w2"], ["w3"]]
