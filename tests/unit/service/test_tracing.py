"""service.tracing: the W3C `traceparent` parser, the ids every request gets, and the log lines that
carry them (no SDK needed for any of it)."""
from __future__ import annotations

import json
import logging

import pytest

from service import tracing
from service.logs import JsonFormatter

TRACE, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param(f"00-{TRACE}-{SPAN}-01", tracing.Parent(TRACE, SPAN, 1), id="sampled"),
    pytest.param(f" 00-{TRACE}-{SPAN}-00 ", tracing.Parent(TRACE, SPAN, 0), id="not-sampled-padded"),
    pytest.param(f"01-{TRACE}-{SPAN}-01-later-fields", tracing.Parent(TRACE, SPAN, 1), id="future-version"),
    pytest.param(f"00-{TRACE}-{SPAN}-01-extra", None, id="version-00-with-extra"),
    pytest.param(f"ff-{TRACE}-{SPAN}-01", None, id="version-ff"),
    pytest.param(f"00-{'0' * 32}-{SPAN}-01", None, id="zero-trace-id"),
    pytest.param(f"00-{TRACE}-{'0' * 16}-01", None, id="zero-span-id"),
    pytest.param(f"00-{TRACE.upper()}-{SPAN}-01", None, id="upper-case"),
    pytest.param(f"00-{TRACE[:-1]}-{SPAN}-01", None, id="short-trace-id"),
    pytest.param("", None, id="empty"),
    pytest.param(None, None, id="absent"),
])
def test_parse_traceparent(header, expected):
    assert tracing.parse_traceparent(header) == expected


def scope(*headers: tuple[bytes, bytes]) -> dict:
    return {"headers": list(headers), "method": "POST", "path": "/invocations"}


def test_a_request_continues_the_callers_trace_with_a_span_of_its_own():
    state = tracing.begin(scope((b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())), "req-1", "/invocations")
    try:
        assert (state.request_id, state.trace_id) == ("req-1", TRACE)
        assert len(state.span_id) == 16 and state.span_id != SPAN
        assert tracing.current.get() is state
    finally:
        tracing.end(state, 200, {})
    assert tracing.current.get() is None


def test_a_request_without_a_valid_traceparent_starts_a_new_trace():
    first = tracing.begin(scope((b"traceparent", b"garbage")), "a", "/invocations")
    tracing.end(first, 200, {})
    second = tracing.begin(scope(), "b", "/invocations")
    tracing.end(second, 200, {})
    assert len(first.trace_id) == 32 and int(first.trace_id, 16) and first.trace_id != second.trace_id


def test_every_line_logged_during_a_request_carries_its_ids():
    formatter = JsonFormatter()
    record = logging.makeLogRecord({"name": "service", "levelname": "ERROR", "msg": "model predict failed",
                                    "error_id": "e1"})
    state = tracing.begin(scope((b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())), "req-2", "/invocations")
    try:
        line = json.loads(formatter.format(record))
    finally:
        tracing.end(state, 500, {})
    assert line["request_id"] == "req-2" and line["trace_id"] == TRACE and line["span_id"] == state.span_id
    assert line["error_id"] == "e1"
    assert "trace_id" not in json.loads(formatter.format(record))  # outside a request: none


@pytest.mark.parametrize(("env", "expected"), [
    pytest.param({}, False, id="unset"),
    pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True, id="endpoint"),
    pytest.param({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True, id="traces"),
    pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, False, id="disabled"),
])
def test_exporting_is_off_unless_an_endpoint_is_configured(monkeypatch, env, expected):
    for name in (*tracing.ENDPOINT_VARIABLES, "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.exporting_configured() is expected
