"""The request context of every request: its id, its access-log line and its request metrics.

One plain ASGI middleware (no per-request task or body copy, unlike Starlette's BaseHTTPMiddleware).
While the worker is on its way out, answers carry `Connection: close`: a client then opens a new
connection (to another worker or pod) instead of sending its next request into a connection about
to be closed under it.

Probes and /metrics are neither access-logged, timed nor traced: they would drown the signal. Every
other request gets its trace ids (`service.tracing`) for all its log lines, and its span when exporting.
"""
from __future__ import annotations

import logging
import re
import time
import traceback
import uuid
from typing import Any

from service import tracing
from service.errors import InternalError, error_response_body
from service.metrics import Metrics
from service.readiness import Readiness

access_logger = logging.getLogger("service.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/ping", "/health", "/metrics"})
KNOWN_ROUTES = QUIET_PATHS | {"/invocations", "/version", "/docs", "/openapi.json"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONNECTION_CLOSE = (b"connection", b"close")


def request_id_from(scope: dict[str, Any]) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new one (never log arbitrary bytes)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: Any, metrics: Metrics, model_version: str | None, readiness: Readiness) -> None:
        self.app = app
        self.metrics = metrics
        self.model_version = model_version
        self.readiness = readiness

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["arrived"] = started  # the request's deadline counts from here (service.deadline)
        path = scope["path"]
        trace = None if path in QUIET_PATHS else tracing.begin(scope, request_id,
                                                               path if path in KNOWN_ROUTES else "other")
        status: int | None = None  # set once the response has started
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
                if self.readiness.closing:
                    message["headers"].append(CONNECTION_CLOSE)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - a bug of ours still answers in the one error shape
            status = await self._internal_error(exc, send_with_id, request_id, status)
        finally:
            self._record(scope, state, status or 500, time.perf_counter() - started, request_id)
            if trace is not None:
                tracing.end(trace, status or 500, {"pyfunc.rows": state.get("rows"),
                                                   "pyfunc.model.version": self.model_version})

    @staticmethod
    async def _internal_error(exc: Exception, send: Any, request_id: str, status: int | None) -> int:
        """Log type and stack (not the message: it may quote the payload); answer 500 if we still can."""
        error = InternalError()
        logging.getLogger("service").error("unexpected error", extra={
            "error_id": error.error_id, "error_type": type(exc).__name__, "request_id": request_id,
            "traceback": "".join(traceback.format_tb(exc.__traceback__))})
        if status is not None:  # the response has started: nothing more can be sent
            return status
        await send({"type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": error_response_body(error, request_id)})
        return 500

    def _record(self, scope: dict[str, Any], state: dict[str, Any], status: int, seconds: float,
                request_id: str) -> None:
        path = scope["path"]
        route = path if path in KNOWN_ROUTES else "other"
        self.metrics.child(self.metrics.requests, route, scope["method"], str(status)).inc()
        if path in QUIET_PATHS:
            return
        self.metrics.child(self.metrics.latency, route).observe(seconds)
        rows = state.get("rows")
        if rows:
            self.metrics.rows.inc(rows)
        access_logger.info("request", extra={
            "request_id": request_id, "method": scope["method"], "path": route, "status": status,
            "latency_ms": round(seconds * 1000, 3), "rows": rows, "model_version": self.model_version})
