"""service/batching.py: every request of a batch is answered, whatever breaks while answering it."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pandas as pd

from service import codec
from service.batching import MicroBatcher

NO_METRICS = SimpleNamespace(batch_rows=SimpleNamespace(observe=lambda value: None),
                             batch_requests=SimpleNamespace(observe=lambda value: None),
                             observe_predictions=lambda predictions: None)


class BreaksOnBatches:
    """Answers x * 2 for one row; a batch breaks outside the model (as a lone surrogate in a string
    column once broke the batch's frame); a negative x breaks even alone."""

    def parse(self, body: bytes, content_type: str | None) -> codec.ModelInput:
        return codec.ModelInput(pd.DataFrame({"x": [float(body)]}), None, 1)

    def predict(self, data: pd.DataFrame, params, enforced: bool = False):
        if len(data) > 1:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        if data["x"].iloc[0] < 0:
            raise RuntimeError("this request breaks")
        return data["x"] * 2


def test_a_batch_that_breaks_answers_every_request_alone():
    """Before, the exception left the batch's callback and its requests waited forever (wait_for: 5 s)."""
    async def run():
        batcher = MicroBatcher(BreaksOnBatches(), NO_METRICS, max_rows=10, max_wait_ms=50)
        calls = [batcher.invoke(body, "application/json") for body in (b"1", b"2", b"-1", b"4")]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=5)

    answers = asyncio.run(run())
    assert [a.body for a in answers if not isinstance(a, Exception)] == [
        codec.serialise(pd.Series([value], name="x")) for value in (2.0, 4.0, 8.0)]
    assert [type(a) for a in answers if isinstance(a, Exception)] == [RuntimeError]


def test_a_batch_flushed_on_its_row_limit_answers_too():
    async def run():
        batcher = MicroBatcher(BreaksOnBatches(), NO_METRICS, max_rows=2, max_wait_ms=50)
        return await asyncio.wait_for(asyncio.gather(batcher.invoke(b"1", None), batcher.invoke(b"3", None)),
                                      timeout=5)

    expected = [codec.serialise(pd.Series([value], name="x")) for value in (2.0, 6.0)]
    assert [answer.body for answer in asyncio.run(run())] == expected
