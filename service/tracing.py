"""W3C trace context on every request, and OpenTelemetry export when an OTLP endpoint is configured.

Every logged request gets a trace id and a span id: the caller's trace (its `traceparent`; its
`tracestate` is kept) or a new one, and a new span id for this server's span. They are put in a
context variable for the request, so every log line of the request carries them with its request id
(`service.logs`). This needs nothing installed: `traceparent` is read by the small parser below,
because the image may have no OpenTelemetry package at all (MLflow before 3 brings none).

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set and `opentelemetry-sdk` +
`opentelemetry-exporter-otlp-proto-http` installed, each Gunicorn worker builds its tracer provider
after fork (`post_fork`: an exporter's thread and connections must not be shared by forked
processes) and the server span is a real span with those ids, the caller's span as its parent,
current while the request runs (spans the model makes are its children), exported in batches and
flushed when the worker exits. Everything else is the standard `OTEL_*` variables (service name,
resource attributes, headers, sampler, batch delays). Off by default; `OTEL_SDK_DISABLED=true` too.
"""
from __future__ import annotations

import contextvars
import logging
import os
import random
import re
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("service")
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME = "pyfunc-model"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True)
class Parent:
    """The caller's span, from a valid `traceparent` header."""

    trace_id: str
    span_id: str
    flags: int


@dataclass
class RequestTrace:
    """The ids every log line of a request carries; `span` is the exported span, when exporting."""

    request_id: str
    trace_id: str
    span_id: str
    span: Any = None
    token: Any = None  # the OpenTelemetry context attached while the span is current
    log_token: Any = None  # this state in `current`


current: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar("request_trace", default=None)
_tracer: Any = None
_provider: Any = None


def parse_traceparent(value: str | None) -> Parent | None:
    """The W3C Trace Context `traceparent` header, or None when absent or invalid (then the request
    starts a new trace, as the spec says). A later version's extra fields are ignored."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return Parent(trace_id, span_id, int(flags, 16))


def exporting_configured() -> bool:
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def start_exporting() -> bool:
    """Set up the SDK in this process (a Gunicorn worker, after fork) when an endpoint is configured;
    True when spans are exported from now on."""
    global _tracer, _provider
    if not exporting_configured():
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        logger.warning("an OTLP endpoint is set but the OpenTelemetry SDK or OTLP/HTTP exporter is not "
                       "installed: no spans are exported (log lines still carry trace ids)",
                       extra={"missing": exc.name})
        return False
    from service import __version__

    attributes = {"service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    _provider = TracerProvider(resource=Resource.create(attributes))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("service")
    logger.info("exporting traces over OTLP/HTTP")
    return True


def stop_exporting() -> None:
    """Flush and stop (Gunicorn's worker_exit): spans still queued are sent."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def _new_id(bits: int) -> str:
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def begin(scope: dict[str, Any], request_id: str, route: str) -> RequestTrace:
    """The request's trace ids (and its span when exporting), made current for its log lines until
    `end`."""
    traceparent = tracestate = None
    for name, value in scope["headers"]:
        if name == b"traceparent":
            traceparent = value.decode("latin-1")
        elif name == b"tracestate":
            tracestate = value.decode("latin-1")
    parent = parse_traceparent(traceparent)
    if _tracer is None:
        state = RequestTrace(request_id, parent.trace_id if parent else _new_id(128), _new_id(64))
    else:
        state = _begin_span(request_id, f"{scope['method']} {route}", parent, tracestate,
                            {"http.request.method": scope["method"], "http.route": route,
                             "url.path": scope["path"]})
    state.log_token = current.set(state)
    return state


def _begin_span(request_id: str, name: str, parent: Parent | None, tracestate: str | None,
                attributes: dict[str, Any]) -> RequestTrace:
    from opentelemetry import context, trace

    parent_context = None
    if parent is not None:
        remote = trace.SpanContext(int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True,
                                   trace_flags=trace.TraceFlags(parent.flags),
                                   trace_state=trace.TraceState.from_header([tracestate] if tracestate else []))
        parent_context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    span = _tracer.start_span(name, context=parent_context, kind=trace.SpanKind.SERVER,
                              attributes={**attributes, "pyfunc.request_id": request_id})
    ids = span.get_span_context()
    token = context.attach(trace.set_span_in_context(span))
    return RequestTrace(request_id, f"{ids.trace_id:032x}", f"{ids.span_id:016x}", span, token)


def end(state: RequestTrace, status: int, attributes: dict[str, Any]) -> None:
    """End the request's span (when exporting) with its outcome; its log lines are over."""
    current.reset(state.log_token)
    if state.span is None:
        return
    from opentelemetry import context, trace

    state.span.set_attributes({"http.response.status_code": status,
                               **{key: value for key, value in attributes.items() if value is not None}})
    if status >= 500:
        state.span.set_status(trace.StatusCode.ERROR)
    state.span.end()
    context.detach(state.token)
