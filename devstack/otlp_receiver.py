"""A small OTLP/HTTP trace receiver on 127.0.0.1, for the tests and benchmarks that check what the
service and `python -m ci` export.

No OpenTelemetry Collector installs from the registries this project reaches (it ships as a Go
binary), so this decodes the requests the way a collector does: `POST /v1/traces` with an
`ExportTraceServiceRequest` protobuf (gzip or not), parsed with the official definitions of the
pinned `opentelemetry-proto` package, answered with an `ExportTraceServiceResponse`. Spans are kept
as plain records (hex ids, attributes as a dict) for assertions.

    python -m devstack.otlp_receiver [--port N] [--quiet]   # prints every span it receives as a JSON line
"""
from __future__ import annotations

import argparse
import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: str  # "SERVER", "INTERNAL", "CLIENT", ...
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status: str  # "UNSET", "OK", "ERROR"
    start_ns: int
    end_ns: int


def _value(any_value) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind) if kind else None


def _attributes(pairs) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode(body: bytes) -> list[ReceivedSpan]:
    """Every span in one ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                    Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"), _attributes(span.attributes),
                    resource, span.status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                    span.start_time_unix_nano, span.end_time_unix_nano))
    return spans


class OtlpReceiver:
    """`with OtlpReceiver() as receiver:` serves on `receiver.endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT)."""

    def __init__(self, port: int = 0, on_span: Callable[[ReceivedSpan], None] | None = None) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != TRACES_PATH:
                    self.send_error(404, f"only {TRACES_PATH} is received here")
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                try:
                    spans = decode(body)
                except Exception:  # noqa: BLE001 - a malformed export is the exporter's bug: answer 400
                    self.send_error(400, "not an ExportTraceServiceRequest")
                    return
                receiver._add(spans, on_span)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _add(self, spans: list[ReceivedSpan], on_span: Callable[[ReceivedSpan], None] | None) -> None:
        with self._lock:
            self.spans.extend(spans)
            self.requests += 1
        for span in spans if on_span else ():
            on_span(span)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate: Callable[[ReceivedSpan], bool], count: int = 1,
                 timeout: float = 30.0) -> list[ReceivedSpan]:
        """The received spans matching `predicate` once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [span for span in self.spans if predicate(span)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                names = sorted({span.name for span in self.spans})
                raise TimeoutError(f"{len(found)} of {count} matching spans within {timeout:.0f}s; "
                                   f"received {len(self.spans)} spans named {names}")
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--quiet", action="store_true", help="count spans, do not print them")
    args = parser.parse_args()
    printed = None if args.quiet else (lambda span: print(json.dumps(asdict(span)), flush=True))
    with OtlpReceiver(args.port, on_span=printed) as receiver:
        print(f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
