"""ci.tracing and the job span's name: no endpoint, no SDK set up and nothing sent."""
from __future__ import annotations

import pytest
from opentelemetry import trace

from ci import tracing
from ci.cli import command_name


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(["gate", "signature", "--url", "http://x"], "gate signature", id="group"),
    pytest.param(["-v", "build", "--image-repository", "r/x"], "build", id="verbose-command"),
    pytest.param(["gate", "--help"], "gate", id="group-alone"),
    pytest.param(["nonsense"], "ci", id="unknown"),
    pytest.param([], "ci", id="none"),
])
def test_command_name(argv, expected):
    assert command_name(argv) == expected


def test_without_an_endpoint_the_job_span_is_a_no_op(monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with tracing.job_span("build") as span, tracing.step("build: download the model"):
        assert span is trace.INVALID_SPAN
        assert tracing.trace_headers() == {}


def test_the_jobs_of_one_pipeline_share_a_trace_id():
    pipeline = {"CI_SERVER_URL": "https://gitlab.example", "CI_PROJECT_ID": "42", "CI_PIPELINE_ID": "1001"}
    trace_id = tracing.pipeline_trace_id(pipeline)
    assert trace_id == tracing.pipeline_trace_id(dict(pipeline)) and 0 < trace_id < 2**128
    assert trace_id != tracing.pipeline_trace_id({**pipeline, "CI_PIPELINE_ID": "1002"})
    assert trace_id != tracing.pipeline_trace_id({**pipeline, "CI_PROJECT_ID": "43"})
    assert tracing.pipeline_trace_id({}) is None
