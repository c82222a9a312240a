"""The Gunicorn worker: uvicorn's, plus draining on SIGTERM.

On SIGTERM /readyz turns 503 at once; the worker keeps serving for `drain_seconds` (so the
endpoints controller can take the pod out of the Service) and then shuts down the uvicorn way:
stop accepting, finish in-flight requests, exit.

The event loop and HTTP parser are named explicitly (uvloop and httptools, ~0.5 ms less per
request than asyncio + h11) instead of uvicorn's "auto", with the pure-Python pair as fallback when
they are not installed; each worker logs which pair it runs.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import sys
import time
from types import FrameType

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

logger = logging.getLogger("service")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def fast_config() -> dict[str, str]:
    """uvloop and httptools when installed, else asyncio and h11 (what "auto" would pick, but said)."""
    return {"loop": "uvloop" if _installed("uvloop") else "asyncio",
            "http": "httptools" if _installed("httptools") else "h11"}


class DrainingServer(Server):
    def __init__(self, config, readiness, drain_seconds: float) -> None:
        super().__init__(config=config)
        self.readiness = readiness
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.readiness is not None:
            self.readiness.start_draining()
            if self.drain_seconds > 0 and self.drain_deadline is None:
                self.drain_deadline = time.monotonic() + self.drain_seconds
                return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)


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
                                             "http_protocol": self.config.http})
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
