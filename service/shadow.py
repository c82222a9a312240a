"""Shadow traffic: stable pods copy a sample of their live requests to a candidate that takes no
user traffic, and compare its answers with their own, row by row (`service.answer_diff`).

Where copies go: `SERVICE_SHADOW_URL`, or the URLs (the candidate's pods, in turn) of the file
`SERVICE_SHADOW_CONFIG`, which the deploy job writes while its shadow step runs (a ConfigMap volume:
no restart of the stable pods); each worker looks at the file at most every CONFIG_POLL_S seconds.

A copy is sent after the live answer is ready, from a task of its own: a live request never waits for
it and never fails because of it. At most `shadow_max_in_flight` copies are on their way per worker;
past that a copy is dropped (counted), so a slow or hung candidate costs the stable pods a bounded
amount of memory and none of their latency but the CPU of sending and comparing. The figures land in
this pod's /metrics (`service_shadow_*`), where `ci deploy --strategy shadow` reads them. Neither the
request nor either answer is logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time

import orjson

from service.answer_diff import ANY, NotComparable, compare
from service.copy_client import CopyClient, CopyFailed
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger("service")
CONFIG_POLL_S = 2.0


class Shadow:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.static = ([settings.shadow_url.rstrip("/")] if settings.shadow_url else [], settings.shadow_sample_rate)
        self.urls, self.sample_rate = self.static
        self.config = settings.shadow_config
        self.max_in_flight = settings.shadow_max_in_flight
        self.timeout = settings.shadow_timeout_seconds
        self.metrics = metrics
        self.in_flight: set[asyncio.Task] = set()
        self._client = CopyClient(settings.shadow_timeout_seconds, settings.shadow_max_in_flight)
        self._turn = 0
        self._next_look = 0.0
        self._seen: tuple[float, int] | None = None  # the config file's (mtime, size) when last read

    @property
    def enabled(self) -> bool:
        """Copies are possible at all (a URL, or a config file that may name some)."""
        return bool(self.static[0]) or self.config is not None

    def offer(self, body: bytes, content_type: str | None, answer: bytes, request_id: str | None) -> None:
        """Copy this answered request to the candidate, if it is sampled and there is room."""
        if self.config is not None:
            self._look()
        if not self.urls or random.random() >= self.sample_rate:
            return
        if len(self.in_flight) >= self.max_in_flight:
            self.metrics.child(self.metrics.shadow_requests, "dropped").inc()
            return
        self._turn += 1
        url = f"{self.urls[self._turn % len(self.urls)]}/invocations"
        task = asyncio.get_running_loop().create_task(self._mirror(url, body, content_type, answer, request_id))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    def _look(self) -> None:
        """Read the config file again if it changed (at most every CONFIG_POLL_S)."""
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + CONFIG_POLL_S
        try:
            stat = os.stat(self.config)
        except OSError:
            self._seen, (self.urls, self.sample_rate) = None, self.static
            return
        if (stat.st_mtime, stat.st_size) == self._seen:
            return
        self._seen = (stat.st_mtime, stat.st_size)
        try:
            with open(self.config, encoding="utf-8") as file:
                config = json.load(file)
            urls = [str(url).rstrip("/") for url in config.get("urls") or []]
            rate = float(config.get("sample_rate", 1.0))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            logger.warning("shadow config unreadable: no copies", extra={"error_type": type(exc).__name__})
            self.urls, self.sample_rate = [], 0.0
            return
        self.urls, self.sample_rate = (urls, min(max(rate, 0.0), 1.0)) if urls else self.static
        logger.info("shadow copies %s", "on" if self.urls else "off",
                    extra={"targets": len(self.urls), "sample_rate": self.sample_rate})

    async def _mirror(self, url: str, body: bytes, content_type: str | None, answer: bytes,
                      request_id: str | None) -> None:
        headers = {"Content-Type": content_type or "application/json"}
        if request_id:  # the candidate logs the copy under the live request's id
            headers["X-Request-ID"] = request_id
        try:
            status, candidate = await self._client.post(url, body, headers)
        except CopyFailed as exc:
            self._count("failed")
            logger.debug("shadow copy failed", extra={"error_type": str(exc)})
            return
        if status >= 500:
            self._count("failed")
        elif status != 200:
            self._count("refused")
        else:
            self._record(answer, candidate)

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
        await self._client.close()
