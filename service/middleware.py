"""Request id, access log and request metrics, as one plain ASGI middleware (no per-request
task or body copy, unlike Starlette's BaseHTTPMiddleware).

Probes and /metrics are neither access-logged nor timed: they would drown the signal.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from service.metrics import Metrics

access_logger = logging.getLogger("service.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/ping", "/health", "/metrics"})
KNOWN_ROUTES = QUIET_PATHS | {"/invocations", "/version", "/docs", "/openapi.json"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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
    def __init__(self, app: Any, metrics: Metrics, model_version: str | None) -> None:
        self.app = app
        self.metrics = metrics
        self.model_version = model_version

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started, request_id)

    def _record(self, scope: dict[str, Any], state: dict[str, Any], status: int, seconds: float,
                request_id: str) -> None:
        path = scope["path"]
        route = path if path in KNOWN_ROUTES else "other"
        self.metrics.requests.labels(route, scope["method"], str(status)).inc()
        if path in QUIET_PATHS:
            return
        self.metrics.latency.labels(route).observe(seconds)
        rows = state.get("rows")
        if rows:
            self.metrics.rows.inc(rows)
        access_logger.info("request", extra={
            "request_id": request_id, "method": scope["method"], "path": route, "status": status,
            "latency_ms": round(seconds * 1000, 3), "rows": rows, "model_version": self.model_version})
