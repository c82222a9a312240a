"""Shadow traffic: stable pods copy a sample of their live requests to a candidate that takes no
user traffic, and compare its answers with their own, row by row (`service.answer_diff`).

A copy is sent after the live answer is ready, from a task of its own: a live request never waits for
it and never fails because of it. At most `shadow_max_in_flight` copies are on their way per worker;
past that a copy is dropped (counted), so a slow or hung candidate costs the stable pods a bounded
amount of memory and none of their latency but the CPU of sending and comparing. The figures land in
this pod's /metrics (`service_shadow_*`), where `ci deploy --strategy shadow` reads them. Neither the
request nor either answer is logged.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import orjson

from service.answer_diff import ANY, NotComparable, compare
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger("service")


class Shadow:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.url = f"{settings.shadow_url.rstrip('/')}/invocations" if settings.shadow_url else None
        self.sample_rate = settings.shadow_sample_rate
        self.max_in_flight = settings.shadow_max_in_flight
        self.timeout = settings.shadow_timeout_seconds
        self.metrics = metrics
        self.in_flight: set[asyncio.Task] = set()
        self._client: Any = None  # httpx.AsyncClient, made in the worker on first use (after fork)

    @property
    def enabled(self) -> bool:
        return self.url is not None and self.sample_rate > 0

    def offer(self, body: bytes, content_type: str | None, answer: bytes, request_id: str | None) -> None:
        """Copy this answered request to the candidate, if it is sampled and there is room."""
        if self.url is None or random.random() >= self.sample_rate:  # noqa: S311 - sampling, not security
            return
        if len(self.in_flight) >= self.max_in_flight:
            self.metrics.child(self.metrics.shadow_requests, "dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(self._mirror(body, content_type, answer, request_id))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _mirror(self, body: bytes, content_type: str | None, answer: bytes, request_id: str | None) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=httpx.Limits(
                max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight))
        headers = {"content-type": content_type or "application/json"}
        if request_id:  # the candidate logs the copy under the live request's id
            headers["x-request-id"] = request_id
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._count("failed")
            logger.debug("shadow copy failed", extra={"error_type": type(exc).__name__})
            return
        if response.status_code >= 500:
            self._count("failed")
        elif response.status_code != 200:
            self._count("refused")
        else:
            self._record(answer, response.content)

    def _record(self, answer: bytes, candidate: bytes) -> None:
        try:
            diff = compare(orjson.loads(answer)["predictions"], orjson.loads(candidate)["predictions"])
        except (NotComparable, orjson.JSONDecodeError, KeyError, TypeError):
            self._count("mismatched")
            return
        metrics = self.metrics
        self._count("compared")
        metrics.shadow_rows.inc(diff.rows)
        for output in (ANY, *diff.outputs):  # unchanged outputs too: the analysis tells their kind
            metrics.child(metrics.shadow_rows_changed, output).inc(diff.changed.get(output, 0))
        for output, pairs in diff.differences.items():
            absolute = metrics.child(metrics.shadow_difference, output, "absolute")
            relative = metrics.child(metrics.shadow_difference, output, "relative")
            for a, r in pairs:
                absolute.observe(a)
                relative.observe(r)

    def _count(self, outcome: str) -> None:
        self.metrics.child(self.metrics.shadow_requests, outcome).inc()

    async def close(self) -> None:
        """Let the copies on their way finish (bounded by their timeout), then close the client."""
        if self.in_flight:
            await asyncio.wait(list(self.in_flight), timeout=self.timeout)
        if self._client is not None:
            await self._client.aclose()
