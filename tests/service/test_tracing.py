"""Traces for real: `python -m service` under Gunicorn exporting over OTLP/HTTP to a receiver on
127.0.0.1 (devstack.otlp_receiver, the official protobuf definitions): the caller's `traceparent` is
the server span's parent, its ids are in every log line of the request; without the exporter the log
lines still carry them. And a `python -m ci` command: the job span continues `TRACEPARENT`, its step
is a child, and the service's spans are children of the step."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack.model_servers import REPO, start_service

BODY = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.5, 1, "x"]]}}
WITHOUT_EXPORTER = REPO / "devstack" / "without_otel_exporter"


def new_parent() -> tuple[str, str, str]:
    """(trace id, span id, traceparent) of a caller's span."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def log_lines(log: Path, request_id: str, timeout: float = 10.0) -> list[dict]:
    """The JSON log lines of one request, once its access line is written."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if request_id in line]
        if any(line.get("logger") == "service.access" for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def exporting_env(receiver, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100", **extra}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A small pyfunc model saved locally (no tracking server needed): score = a * 2 + b."""
    from tests.ci import gate_models

    return gate_models.save(tmp_path_factory.mktemp("traced-model") / "model")


@pytest.fixture(scope="module")
def traced(model_dir, otlp_receiver, tmp_path_factory):
    log = tmp_path_factory.mktemp("traced") / "service.log"
    server = start_service(model_dir, log, workers=2,
                           env=exporting_env(otlp_receiver, OTEL_SERVICE_NAME="credit-risk-traced",
                                             SERVICE_MODEL_VERSION="7"))
    yield server, log
    server.stop()


def test_the_server_span_continues_the_callers_trace(traced, otlp_receiver):
    server, log = traced
    trace_id, parent_id, traceparent = new_parent()
    response = requests.post(f"{server.url}/invocations", json=BODY, timeout=30, headers={
        "traceparent": traceparent, "tracestate": "vendor=opaque", "X-Request-ID": "traced-1"})
    assert response.status_code == 200
    [span] = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id and s.kind == "SERVER")
    inner = [s for s in otlp_receiver.spans if s.trace_id == trace_id and s.kind != "SERVER"]
    assert {s.parent_span_id for s in inner} <= {span.span_id}, inner  # what the model traces is inside
    assert (span.name, span.kind, span.parent_span_id, span.status) == (
        "POST /invocations", "SERVER", parent_id, "UNSET")
    assert span.attributes["http.route"] == "/invocations"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["pyfunc.request_id"] == "traced-1"
    assert (span.attributes["pyfunc.rows"], span.attributes["pyfunc.model.version"]) == (1, "7")
    assert span.resource["service.name"] == "credit-risk-traced"
    [access] = [line for line in log_lines(log, "traced-1") if line["logger"] == "service.access"]
    assert (access["trace_id"], access["span_id"]) == (trace_id, span.span_id)


def test_a_request_without_traceparent_starts_a_new_trace(traced, otlp_receiver):
    server, log = traced
    response = requests.post(f"{server.url}/invocations", json=BODY, timeout=30,
                             headers={"X-Request-ID": "traced-2"})
    assert response.status_code == 200
    [access] = [line for line in log_lines(log, "traced-2") if line["logger"] == "service.access"]
    [span] = otlp_receiver.wait_for(lambda s: s.attributes.get("pyfunc.request_id") == "traced-2"
                                    and s.kind == "SERVER")
    assert span.parent_span_id == "" and (span.trace_id, span.span_id) == (access["trace_id"], access["span_id"])


def test_probes_are_not_traced(traced, otlp_receiver):
    server, _ = traced
    trace_id, _, traceparent = new_parent()
    for path in ("/healthz", "/readyz", "/metrics"):
        requests.get(f"{server.url}{path}", headers={"traceparent": traceparent}, timeout=10)
    requests.get(f"{server.url}/version", headers={"traceparent": traceparent}, timeout=10)
    spans = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id)
    time.sleep(0.5)  # a probe's span, if any, would be in the same or the next export
    assert [s.name for s in otlp_receiver.spans if s.trace_id == trace_id] == ["GET /version"] == [
        s.name for s in spans]


def test_without_the_exporter_the_log_lines_still_carry_the_ids(model_dir, otlp_receiver, tmp_path):
    log = tmp_path / "service.log"
    server = start_service(model_dir, log, workers=1,
                           env=exporting_env(otlp_receiver, PYTHONPATH=str(WITHOUT_EXPORTER)))
    try:
        trace_id, _, traceparent = new_parent()
        response = requests.post(f"{server.url}/invocations", json=BODY, timeout=30,
                                 headers={"traceparent": traceparent, "X-Request-ID": "untraced-1"})
        assert response.status_code == 200
        [access] = [line for line in log_lines(log, "untraced-1") if line["logger"] == "service.access"]
    finally:
        server.stop()
    assert access["trace_id"] == trace_id and len(access["span_id"]) == 16
    assert "no spans are exported" in log.read_text()
    assert not [s for s in otlp_receiver.spans if s.trace_id == trace_id]


def test_a_ci_command_is_one_trace_with_the_service_it_checks(traced, otlp_receiver, model_dir, tmp_path):
    server, _ = traced
    trace_id, parent_id, traceparent = new_parent()
    env = {**os.environ, **exporting_env(otlp_receiver), "TRACEPARENT": traceparent, "CI_PIPELINE_ID": "77",
           "CI_JOB_NAME": "gate:signature", "OTEL_SERVICE_NAME": "pipeline-test"}
    result = subprocess.run([sys.executable, "-m", "ci", "gate", "signature", "--model-uri", str(model_dir),
                             "--url", server.url, "--output-dir", str(tmp_path)],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    [job] = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == "ci gate signature")
    assert (job.parent_span_id, job.kind, job.resource["service.name"]) == (parent_id, "INTERNAL", "pipeline-test")
    assert (job.attributes["cicd.pipeline.id"], job.attributes["cicd.pipeline.task.name"]) == ("77", "gate:signature")
    assert job.attributes["ci.exit_code"] == 0
    [step] = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == "signature: batching")
    assert step.parent_span_id == job.span_id and step.attributes["url.full"] == server.url
    served = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id and s.kind == "SERVER", count=2)
    assert {s.parent_span_id for s in served} == {step.span_id}
    assert {s.resource["service.name"] for s in served} == {"credit-risk-traced"}


def test_without_traceparent_the_jobs_of_a_pipeline_share_one_trace(otlp_receiver, tmp_path):
    """Two jobs of pipeline 78, one of which fails (a usage error): one trace id, both job spans roots."""
    from ci.tracing import pipeline_trace_id

    pipeline = {"CI_SERVER_URL": "https://gitlab.example", "CI_PROJECT_ID": "42", "CI_PIPELINE_ID": "78"}
    env = {key: value for key, value in os.environ.items() if key not in ("TRACEPARENT", "TRACESTATE")}
    env.update(exporting_env(otlp_receiver), **pipeline)
    for job, argv in (("preflight", ["preflight", "--help"]), ("build", ["build"])):
        subprocess.run([sys.executable, "-m", "ci", *argv], env={**env, "CI_JOB_NAME": job}, cwd=REPO,
                       capture_output=True, timeout=120, check=False)
    trace_id = f"{pipeline_trace_id(pipeline):032x}"
    spans = otlp_receiver.wait_for(lambda s: s.trace_id == trace_id, count=2)
    by_job = {s.attributes["cicd.pipeline.task.name"]: s for s in spans}
    assert (by_job["preflight"].name, by_job["build"].name) == ("ci preflight", "ci build")
    assert {s.parent_span_id for s in spans} == {""}
    assert (by_job["build"].attributes["ci.exit_code"], by_job["build"].status) == (2, "ERROR")
