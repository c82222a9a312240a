"""Readiness: whether this worker should get traffic, and whether it asks clients to reconnect.

Not ready until a warm-up prediction on the model's own input example passed, and not ready again
once draining on shutdown starts. Also whether this worker is on its way out (draining or
recycled), when answers ask clients to close their connection."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from service import fork_safety
from service.core import Predictor

logger = logging.getLogger("service")
JSON = "application/json"


class Readiness:
    def __init__(self, predictor: Predictor, serving_example: str | None) -> None:
        self.predictor = predictor
        self.serving_example = serving_example
        self.warmed = False
        self.draining = False
        self.closing = False
        self.failed = False
        self.replace = False

    @property
    def ready(self) -> bool:
        return self.warmed and not self.draining

    @property
    def reason(self) -> str:
        if self.draining:
            return "draining"
        if self.failed:
            return "warm-up prediction failed"
        return "ready" if self.warmed else "warming up"

    async def warm_up(self) -> None:
        """Run the serving example through the full request path once (in a thread: the loop
        keeps answering probes meanwhile)."""
        if self.serving_example is not None:
            try:
                await asyncio.to_thread(self.predictor.invoke, self.serving_example.encode(), JSON)
            except Exception:  # noqa: BLE001 - stay not-ready; the reason is in the log
                self.failed = True
                logger.error("warm-up prediction failed; /readyz stays 503", exc_info=False)
                return
        self.warmed = True
        logger.info("warm-up done; ready")

    def prime(self) -> None:
        """One prediction in the Gunicorn master, before fork: the modules and caches the first
        request imports and fills then live in pages the workers share instead of in each worker.
        A failure here is left to each worker's warm-up to report."""
        if self.serving_example is None:
            return
        body = self.serving_example.encode()
        _, single_threaded = fork_safety.in_child(lambda: bool(self.predictor.invoke(body, JSON)))
        if not single_threaded:  # or it failed: the workers' warm-up reports that
            logger.warning("no priming prediction in the master: it failed, or started native threads (an "
                           "OpenMP/BLAS pool) that forked workers could deadlock on; each worker warms up alone")
            return
        with contextlib.suppress(Exception):
            self.predictor.invoke(body, JSON)

    def start_draining(self) -> None:
        self.draining = self.closing = True

    def replace_worker(self) -> None:
        """A model call was interrupted at the deadline and may have left half-updated state: this
        worker is recycled (`service.worker`) and a fresh one forks from the master's copy."""
        self.replace = True

    def start_closing(self) -> None:
        """This worker leaves soon but the pod stays ready (a recycle): only ask for closes."""
        self.closing = True
