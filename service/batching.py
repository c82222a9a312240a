"""Adaptive micro-batching: within one worker, concurrent requests share one `predict` call.

Each request is parsed and validated on its own first, so a bad request fails alone. A batch is
closed when it holds `batch_max_rows` rows, when `batch_max_wait_ms` passed, or as soon as a turn
of the event loop brought no new request: an idle server adds no wait, a busy one batches more.
Predictions are split back by row counts; a model whose output does not split by rows (a dict,
a wrong length) is answered request by request instead.

Both invokers hold each request to the deadline (`service.deadline`): late in the queue it is not
predicted, and a model call that runs past the first of its requests' deadlines is interrupted.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import pandas as pd

from service import codec
from service.core import Prediction, Predictor, answer
from service.deadline import Deadline
from service.errors import DeadlineExceeded, ServiceError
from service.metrics import Metrics
from service.settings import Settings
from service.turns import LoopTurns

logger = logging.getLogger("service")
# body, content type, and when the request arrived (time.perf_counter(); None: no deadline)
Invoker = Callable[[bytes, "str | None", "float | None"], Awaitable[Prediction]]
NO_DEADLINE = Deadline(float("inf"))


class Pending(NamedTuple):
    """A request waiting for its batch."""

    input: codec.ModelInput
    key: Any  # batch_key
    answer: asyncio.Future
    context: contextvars.Context  # the request's: predicted on its own (its batch failed), it logs as itself
    arrived: float | None


def make_invoker(settings: Settings, predictor: Predictor, metrics: Metrics, batching: bool,
                 deadline: Deadline = NO_DEADLINE) -> Invoker:
    """The function /invocations awaits: direct, or through a MicroBatcher when `batching` (the
    setting and the model's proof, `service.batch_proof`)."""
    if batching:
        return MicroBatcher(predictor, metrics, settings.batch_max_rows, settings.batch_max_wait_ms, deadline).invoke

    turns = LoopTurns()

    async def invoke(body: bytes, content_type: str | None, arrived: float | None = None) -> Prediction:
        parsed = predictor.parse(body, content_type)
        await turns.take()
        predictions = deadline.call(arrived, lambda: predictor.predict(parsed.data, parsed.params,
                                                                       enforced=parsed.validated))
        metrics.batch_rows.observe(parsed.rows)
        metrics.batch_requests.observe(1)
        metrics.observe_predictions(predictions)
        return answer(predictions, parsed.rows)

    return invoke


def batch_key(item: codec.ModelInput) -> Any:
    """Inputs with equal keys concatenate into one frame; None: not batchable. Computed once per
    request (a frame's `dtypes` costs ~60 us)."""
    if item.params:
        return None
    if item.validated:
        return "signature"  # every fast-path frame has the signature's columns, order and dtypes
    if not isinstance(item.data, pd.DataFrame):
        return None
    return tuple(item.data.columns), tuple(item.data.dtypes)


def batch_frame(inputs: list[codec.ModelInput]) -> pd.DataFrame:
    """The frame of inputs of one batch key, rows in order: built once from the fast path's columns
    (the frame `pd.concat` of theirs would give), else their frames concatenated."""
    if inputs[0].fast is not None and all(item.columns is not None for item in inputs):
        return inputs[0].fast.frame([item.columns for item in inputs])
    return pd.concat([item.data for item in inputs], ignore_index=True)


def _split(predictions: Any, sizes: list[int]) -> list[Any] | None:
    """Cut batch predictions back into per-request parts, or None if they do not split by rows."""
    if not isinstance(predictions, (pd.DataFrame, pd.Series, list)) and not hasattr(predictions, "shape"):
        return None
    if len(predictions) != sum(sizes):
        return None
    parts, start = [], 0
    for size in sizes:
        end = start + size
        parts.append(predictions.iloc[start:end] if isinstance(predictions, (pd.DataFrame, pd.Series))
                     else predictions[start:end])
        start = end
    return parts


class MicroBatcher:
    def __init__(self, predictor: Predictor, metrics: Metrics, max_rows: int, max_wait_ms: float,
                 deadline: Deadline = NO_DEADLINE) -> None:
        self.predictor = predictor
        self.deadline = deadline
        self.metrics = metrics
        self.max_rows = max_rows
        self.max_wait = max_wait_ms / 1000
        self.splittable = True
        self.pending: list[Pending] = []
        self.rows = 0
        self.opened = 0.0
        self.seen = 0
        self.scheduled = False

    async def invoke(self, body: bytes, content_type: str | None, arrived: float | None = None) -> Prediction:
        parsed = self.predictor.parse(body, content_type)
        key = batch_key(parsed)
        if not self.splittable or key is None or parsed.rows >= self.max_rows:
            outcome = self.deadline.call(arrived, lambda: self._predict([parsed])[0])
        else:
            outcome = await self._enqueue(parsed, key, arrived)
        if isinstance(outcome, BaseException):  # its own ServiceError, or what broke while answering it
            raise outcome
        return answer(outcome, parsed.rows)

    def _enqueue(self, parsed: codec.ModelInput, key: Any, arrived: float | None) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.pending:
            self.opened = time.monotonic()
        self.pending.append(Pending(parsed, key, future, contextvars.copy_context(), arrived))
        self.rows += parsed.rows
        if self.rows >= self.max_rows:
            self._flush()
        elif not self.scheduled:
            self.scheduled = True
            self.seen = len(self.pending)
            loop.call_soon(self._maybe_flush)
        return future

    def _maybe_flush(self) -> None:
        """Flush unless the last loop turn brought more requests and there is wait budget left."""
        if len(self.pending) > self.seen and time.monotonic() - self.opened < self.max_wait:
            self.seen = len(self.pending)
            asyncio.get_running_loop().call_soon(self._maybe_flush)
            return
        self._flush()

    def _flush(self) -> None:
        batch, self.pending, self.rows, self.scheduled = self.pending, [], 0, False
        on_time = []
        for item in batch:
            late = self.deadline.late(item.arrived)
            if late is None:
                on_time.append(item)
            else:
                item.answer.set_result(late)  # answered now, not predicted for a client that gave up
        if not on_time:
            return
        key = on_time[0].key
        groups = [[item for item in on_time if item.key == key]]
        groups += [[item] for item in on_time if item.key != key]
        for group in groups:
            inputs, contexts = [item.input for item in group], [item.context for item in group]
            arrived = min((item.arrived for item in group if item.arrived is not None), default=None)
            try:
                outcomes = self.deadline.call(arrived, lambda: self._predict(inputs, contexts))  # noqa: B023
            except DeadlineExceeded as late:
                outcomes = [late] * len(group)
            except Exception:  # noqa: BLE001 - not the model's (that is a ServiceError): each alone, below
                outcomes = [self._alone(item) for item in group]
            for item, outcome in zip(group, outcomes):
                if not item.answer.done():  # every request of the batch is answered: none waits forever
                    item.answer.set_result(outcome)

    def _alone(self, item: Pending) -> Any:
        """A request of a batch that broke outside the model (a frame, a metric): predicted on its own,
        its outcome or the exception it raises, which its request answers with."""
        try:
            return item.context.run(self.deadline.call, item.arrived, lambda: self._predict([item.input])[0])
        except Exception as exc:  # noqa: BLE001 - handed to the request's own error handling
            return exc

    def _predict(self, inputs: list[codec.ModelInput], contexts: list[contextvars.Context] | None = None) -> list[Any]:
        """Predict `inputs` in one call; per request its predictions or its own ServiceError (when a
        batch fails, each request is predicted again alone, in its own `contexts` entry)."""
        sizes = [item.rows for item in inputs]
        try:
            if len(inputs) == 1:
                predictions = self.predictor.predict(inputs[0].data, inputs[0].params, inputs[0].validated)
                parts = [predictions]
            else:  # one batch key: all fast-path frames (enforced) or none
                predictions = self.predictor.predict(batch_frame(inputs), None, inputs[0].validated)
                parts = _split(predictions, sizes)
        except ServiceError as error:
            if len(inputs) == 1:
                return [error]
            parts = None  # isolate the failing request: the others still get answers
        else:
            if parts is None:
                logger.warning("model output does not split by rows; micro-batching turned off")
                self.splittable = False
        if parts is None:
            contexts = contexts or [contextvars.copy_context() for _ in inputs]
            return [outcome for item, context in zip(inputs, contexts)
                    for outcome in context.run(self._predict, [item])]
        self.metrics.batch_rows.observe(sum(sizes))
        self.metrics.batch_requests.observe(len(inputs))
        self.metrics.observe_predictions(predictions)  # per predict call, as metrics.MAX_VALUES says
        return parts
