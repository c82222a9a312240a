"""The Gunicorn worker: uvicorn's, plus draining on SIGTERM and a graceful recycle.

On SIGTERM /readyz turns 503 at once; the worker keeps serving for `drain_seconds` (so the
endpoints controller can take the pod out of the Service), its answers asking clients to close
their connections, and then shuts down the uvicorn way: stop accepting, finish in-flight
requests, exit.

A worker whose model call was interrupted at the deadline (`service.deadline`) is recycled the
same way. Past max_requests uvicorn would shut down at once, closing idle keep-alive connections, and a
client whose next request was already on its way saw a reset. Instead the worker stops accepting
(the other workers, or its replacement, take new connections), answers what its connections
still send with `Connection: close`, and exits once they are closed, or after `RECYCLE_GRACE`.

The event loop and HTTP parser are named explicitly (uvloop and httptools, ~0.5 ms less per
request than asyncio + h11) instead of uvicorn's "auto", with the pure-Python pair as fallback when
they are not installed; each worker logs which pair it runs. The HTTP protocol also answers a client
that half-closed after sending its request (`service.protocols`).
"""
from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import signal
import sys
import time
from types import FrameType

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from service.protocols import http_protocol

logger = logging.getLogger("service")
# How long a recycled worker waits for its keep-alive clients' next requests (a busy client sends
# one within milliseconds); a connection still idle then is closed, as any idle one may be.
RECYCLE_GRACE = 1.0


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def fast_config() -> dict[str, object]:
    """uvloop and httptools when installed, else asyncio and h11 (what "auto" would pick, but said)."""
    return {"loop": "uvloop" if _installed("uvloop") else "asyncio", "http": http_protocol()}


class DrainingServer(Server):
    def __init__(self, config, readiness, drain_seconds: float) -> None:
        super().__init__(config=config)
        self.readiness = readiness
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None
        self.request_limit = config.limit_max_requests  # gunicorn has added its jitter
        self.recycle_deadline: float | None = None

    @functools.cached_property
    def limit_max_requests(self) -> int | None:
        return None  # uvicorn's abrupt exit at the limit is replaced by `_recycle`

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.readiness is not None:
            self.readiness.start_draining()
            if self.drain_seconds > 0 and self.drain_deadline is None:
                self.drain_deadline = time.monotonic() + self.drain_seconds
                return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        now = time.monotonic()
        if self.drain_deadline is not None and now >= self.drain_deadline:
            self.should_exit = True
        if self.recycle_deadline is None and (
                (self.request_limit and self.server_state.total_requests >= self.request_limit)
                or (self.readiness is not None and self.readiness.replace)):
            self._recycle(now)
        if self.recycle_deadline is not None and (not self.server_state.connections or now >= self.recycle_deadline):
            self.should_exit = True
        return await super().on_tick(counter)

    def _recycle(self, now: float) -> None:
        logger.info("recycling the worker", extra={"requests": self.server_state.total_requests})
        for server in self.servers:
            server.close()  # stop accepting; the listening socket stays open in the other processes
        if self.readiness is not None:
            self.readiness.start_closing()
        self.recycle_deadline = now + RECYCLE_GRACE


class DrainingUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = fast_config()

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        state = getattr(self.wsgi, "state", None)
        settings = getattr(state, "settings", None)
        server = DrainingServer(self.config, getattr(state, "readiness", None),
                                settings.drain_seconds if settings is not None else 0.0)
        self._install_sigquit_handler()
        logger.info("worker serving", extra={"event_loop": type(asyncio.get_running_loop()).__module__,
                                             "http_protocol": self.config.http.__name__.lower()})
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
