"""service/deadline.py: a request past its deadline is answered 503, queued or mid-prediction."""
from __future__ import annotations

import asyncio
import time

import pandas as pd
import pytest

from service import codec
from service.batching import MicroBatcher, make_invoker
from service.deadline import Deadline
from service.errors import DeadlineExceeded
from service.settings import Settings
from tests.unit.service.test_batching import NO_METRICS


class Sleeps:
    """Sleeps `x` seconds (the row's value) in Python, then answers x; `spin` > 0 loops in Python instead."""

    def __init__(self, spin: bool = False) -> None:
        self.spin = spin
        self.calls = 0

    def parse(self, body: bytes, content_type: str | None) -> codec.ModelInput:
        return codec.ModelInput(pd.DataFrame({"x": [float(body)]}), None, 1)

    def predict(self, data: pd.DataFrame, params, enforced: bool = False):
        self.calls += 1
        seconds = float(data["x"].max())
        if self.spin:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
        else:
            try:
                time.sleep(seconds)
            except Exception:  # noqa: BLE001 - a model that swallows its errors must still be stopped
                return data["x"] * 0
        return data["x"]


@pytest.mark.parametrize("spin", [False, True], ids=["sleeping", "looping"])
def test_a_call_past_the_deadline_is_interrupted_and_the_worker_marked_for_replacing(spin):
    replaced = []
    deadline = Deadline(0.2, on_interrupt=lambda: replaced.append(True))
    model = Sleeps(spin)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded) as raised:
        deadline.call(started, lambda: model.predict(pd.DataFrame({"x": [5.0]}), None))
    assert time.perf_counter() - started < 1.0
    assert raised.value.stage == "predicting" and raised.value.status == 503 and replaced == [True]
    assert "SERVICE_REQUEST_TIMEOUT_SECONDS" in raised.value.message
    time.sleep(0.3)  # the timer is disarmed: nothing fires later
    assert deadline.call(time.perf_counter(), lambda: 7) == 7


def test_a_call_on_time_is_not_interrupted_and_nothing_fires_after_it():
    deadline = Deadline(0.2)
    assert deadline.call(time.perf_counter(), lambda: time.sleep(0.05) or "done") == "done"
    time.sleep(0.3)


def test_a_request_that_waited_past_the_deadline_is_not_predicted():
    model = Sleeps()
    invoke = make_invoker(Settings(), model, NO_METRICS, batching=False, deadline=Deadline(0.1))
    with pytest.raises(DeadlineExceeded) as raised:
        asyncio.run(invoke(b"0", None, time.perf_counter() - 1.0))
    assert raised.value.stage == "queued" and model.calls == 0


def test_a_batch_answers_the_late_at_once_and_the_rest_until_its_call_is_stopped():
    """Requests of one batch: the one that arrived too long ago is not predicted; the call for the
    others is stopped at the deadline of the first of them, and each of them is answered."""
    async def run():
        batcher = MicroBatcher(Sleeps(), NO_METRICS, max_rows=10, max_wait_ms=50, deadline=Deadline(0.3))
        now = time.perf_counter()
        calls = [batcher.invoke(b"0", None, now - 1.0), batcher.invoke(b"5", None, now),
                 batcher.invoke(b"0", None, now)]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=5)

    started = time.perf_counter()
    answers = asyncio.run(run())
    assert time.perf_counter() - started < 1.5
    assert [(type(a).__name__, getattr(a, "stage", None)) for a in answers] == [
        ("DeadlineExceeded", "queued"), ("DeadlineExceeded", "predicting"), ("DeadlineExceeded", "predicting")]


def test_without_an_arrival_time_nothing_is_held_to_a_deadline():
    assert Deadline(0.01).call(None, lambda: time.sleep(0.05) or "done") == "done"
    assert Deadline(0.01).late(None) is None
