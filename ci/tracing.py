"""Traces of the pipeline: one span per `python -m ci` command, a child span per step.

Exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set; the
standard `OTEL_*` variables configure the rest. The jobs of a pipeline are one trace (resolve → build →
gates → deploy): the job's span continues the trace in `TRACEPARENT` (and `TRACESTATE`) when given;
without it, every job of one GitLab pipeline gets the same trace id, made from the pipeline's id
(`CI_SERVER_URL`, `CI_PROJECT_ID`, `CI_PIPELINE_ID`), each job span a root of that trace. Steps are the
seams every job goes through (each external tool run, each MLflow call) and the named steps of the
logic modules (`step(...)`); requests to the candidate or live service carry the step's `traceparent`
(`trace_headers()`), so the service's spans join the job's trace. Without an endpoint every span is
the OpenTelemetry API's no-op (nothing is set up, nothing is sent).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context, propagate, trace

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME = "pyfunc-deploy-ci"
# GitLab's predefined variables that say which job of which pipeline a span belongs to.
JOB_ATTRIBUTES = {"CI_PIPELINE_ID": "cicd.pipeline.id", "CI_JOB_ID": "cicd.pipeline.task.run.id",
                  "CI_JOB_NAME": "cicd.pipeline.task.name", "CI_COMMIT_SHA": "vcs.ref.head.revision",
                  "CI_PROJECT_PATH": "vcs.repository.name", "CI_ENVIRONMENT_NAME": "deployment.environment.name"}
tracer = trace.get_tracer("ci")


def exporting_configured(env: Mapping[str, str] = os.environ) -> bool:
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(env.get(name) for name in ENDPOINT_VARIABLES)


def pipeline_trace_id(env: Mapping[str, str] = os.environ) -> int | None:
    """The trace id every job of this GitLab pipeline shares (None outside a pipeline)."""
    if not env.get("CI_PIPELINE_ID"):
        return None
    key = f"{env.get('CI_SERVER_URL', '')}/{env.get('CI_PROJECT_ID', '')}/{env['CI_PIPELINE_ID']}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:32], 16)


def _provider(trace_id: int | None) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class PipelineIds(RandomIdGenerator):
        """A root span (the job's, without TRACEPARENT) starts the pipeline's trace."""

        def generate_trace_id(self) -> int:
            return trace_id or super().generate_trace_id()

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=PipelineIds())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@contextlib.contextmanager
def job_span(command: str) -> Iterator[Any]:
    """The span of one `python -m ci <command>` run, child of `TRACEPARENT` when set; flushed at the end."""
    if not exporting_configured():
        yield trace.INVALID_SPAN
        return
    provider = _provider(pipeline_trace_id())
    trace.set_tracer_provider(provider)
    carrier = {"traceparent": os.environ.get("TRACEPARENT", ""), "tracestate": os.environ.get("TRACESTATE", "")}
    parent = propagate.extract({key: value for key, value in carrier.items() if value})
    attributes = {name: os.environ[variable] for variable, name in JOB_ATTRIBUTES.items() if os.environ.get(variable)}
    try:
        with provider.get_tracer("ci").start_as_current_span(f"ci {command}", context=parent,
                                                              attributes={"ci.command": command, **attributes}) as span:
            yield span
    finally:
        provider.shutdown()


def step(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one (no-op when not exporting)."""
    return tracer.start_as_current_span(name, attributes={k: v for k, v in attributes.items() if v is not None})


def trace_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, for a request to the service."""
    headers: dict[str, str] = {}
    propagate.inject(headers, context=context.get_current())
    return headers
