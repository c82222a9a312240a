"""The HTTP face in-process: endpoints, the one error shape, request ids, access log, limits."""
from __future__ import annotations

import json
import logging
import re
import socket
import time

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
ONE_ROW = {"dataframe_split": {"columns": COLUMNS, "data": [[34.0, 48000.0, "employed", 2]]}}
SECRET = "s3cr3t-applicant-name"


def test_invocations_returns_predictions_and_a_request_id(client):
    answer = client.post("/invocations", json=ONE_ROW)
    assert answer.status_code == 200
    assert answer.json()["predictions"] in ([0], [1])
    assert len(answer.headers["x-request-id"]) == 32


def test_a_sane_caller_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert client.post("/invocations", json=ONE_ROW, headers={"X-Request-ID": "abc-123"}).headers[
        "x-request-id"] == "abc-123"
    replaced = client.post("/invocations", json=ONE_ROW, headers={"X-Request-ID": "a b\tc" * 50})
    assert replaced.headers["x-request-id"] != "a b\tc" * 50


def test_probes_and_version(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/ping").status_code == client.get("/health").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
    version = client.get("/version").json()
    assert set(version) == {"model_name", "model_version", "run_id", "model_source", "signature_digest",
                            "image_tag", "image_digest", "service_version", "mlflow_version", "batching",
                            "instance"}
    assert version["instance"] == socket.gethostname()  # the pod's name in Kubernetes
    assert version["image_tag"] == "t1" and version["mlflow_version"] == "3.17.2"
    assert version["signature_digest"].startswith("sha256:") and len(version["run_id"]) == 32


def test_bad_input_error_shape_names_field_and_request_id(client):
    answer = client.post("/invocations", json={"dataframe_records": [{"age": SECRET}]},
                         headers={"X-Request-ID": "req-1"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "BAD_REQUEST" and body["field"] and body["expected"]
    assert body["request_id"] == "req-1" and SECRET not in answer.text


def test_wrong_content_type_is_415_and_unknown_route_keeps_the_error_shape(client):
    answer = client.post("/invocations", content=json.dumps(ONE_ROW), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and answer.json()["field"] == "Content-Type"
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    assert missing.json()["message"] == "Not Found"
    wrong_method = client.get("/invocations", headers={"X-Request-ID": "req-405"})
    assert wrong_method.status_code == 405 and wrong_method.json() == {
        "error_code": "METHOD_NOT_ALLOWED", "message": "Method Not Allowed", "request_id": "req-405"}


def test_middleware_added_after_create_app_runs_on_invocations_and_every_route(loaded_models):
    """A deployment's auth, CORS or tracing middleware must not miss the one route that matters."""
    app = create_app(Settings(model_uri="x"), loaded_models["sklearn"])
    seen_asgi, seen_http = [], []

    class Recorder:  # a pure ASGI middleware
        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http":
                seen_asgi.append((scope["method"], scope["path"]))
            await self.app(scope, receive, send)

    app.add_middleware(Recorder)

    @app.middleware("http")
    async def tag(request, call_next):
        seen_http.append((request.method, request.url.path))
        response = await call_next(request)
        response.headers["x-tagged"] = "yes"
        return response

    requests = [("POST", "/invocations"), ("GET", "/healthz"), ("GET", "/version"), ("GET", "/nope")]
    with TestClient(app) as client:
        answers = [client.request(method, path, json=ONE_ROW if method == "POST" else None)
                   for method, path in requests]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 404]
    assert all(answer.headers["x-tagged"] == "yes" and answer.headers["x-request-id"] for answer in answers)
    assert answers[0].json()["predictions"] in ([0], [1])
    assert seen_asgi == seen_http == requests


def test_body_over_the_limit_is_413_by_header_and_by_stream(make_client):
    small = make_client("sklearn", max_body_bytes=200)
    big = json.dumps({"dataframe_records": [{"age": 1.0, "note": "x" * 500}]})
    answer = small.post("/invocations", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["expected"] == "at most 200 bytes"
    streamed = small.post("/invocations", content=iter([big[:150].encode(), big[150:].encode()]),
                          headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_model_exception_is_500_with_error_id(toy_models):
    settings = Settings(model_uri="frame")
    with TestClient(create_app(settings, toy_models["frame"])) as client:
        answer = client.post("/invocations", json={"dataframe_records": [{"x": 1.0, "label": "boom"}]})
    assert answer.status_code == 500
    assert answer.json()["error_code"] == "INTERNAL_ERROR" and len(answer.json()["error_id"]) == 32


def test_readyz_is_503_before_warm_up_and_while_draining_and_closing_asks_for_connection_close(loaded_models):
    app = create_app(Settings(model_uri="x"), loaded_models["sklearn"])
    with TestClient(app) as client:
        readiness = app.state.readiness
        deadline = time.monotonic() + 30
        while not readiness.warmed and time.monotonic() < deadline:  # the warm-up task runs on its own
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        readiness.warmed = False
        assert client.get("/readyz").status_code == 503
        readiness.warmed = True
        assert client.get("/readyz").status_code == 200
        assert "connection" not in client.post("/invocations", json=ONE_ROW).headers
        readiness.start_closing()  # a recycle: still ready, but connections are asked to close
        assert client.get("/readyz").status_code == 200
        assert client.post("/invocations", json=ONE_ROW).headers["connection"] == "close"
        readiness.start_draining()
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["message"] == "draining"
        assert answer.headers["connection"] == "close"
        assert client.get("/healthz").status_code == 200


def test_priming_in_the_master_leaves_a_failure_to_the_workers_warm_up(toy_models):
    model = toy_models["frame"]
    boom = '{"dataframe_records": [{"x": 1, "label": "boom"}]}'
    broken = type(model)(model.pyfunc, model.identity, boom, 0.1)
    app = create_app(Settings(model_uri="x"), broken)
    app.state.readiness.prime()  # does not raise
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503


def test_warm_up_failure_keeps_readyz_at_503(toy_models):
    model = toy_models["frame"]
    boom = '{"dataframe_records": [{"x": 1, "label": "boom"}]}'
    broken = type(model)(model.pyfunc, model.identity, boom, 0.1)
    with TestClient(create_app(Settings(model_uri="x"), broken)) as client:
        assert client.get("/readyz").status_code == 503


def test_access_log_has_one_line_per_request_and_none_for_probes(client, caplog):
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.post("/invocations", json=ONE_ROW, headers={"X-Request-ID": "logged-1"})
        client.get("/healthz")
        client.get("/readyz")
        client.get("/metrics")
    lines = [record for record in caplog.records if record.name == "service.access"]
    assert len(lines) == 1
    line = lines[0]
    assert (line.request_id, line.method, line.path, line.status, line.rows) == \
        ("logged-1", "POST", "/invocations", 200, 1)
    assert line.latency_ms > 0 and hasattr(line, "model_version")


def test_metrics_count_requests_rows_and_keep_probes_out_of_latency(make_client):
    client = make_client("sklearn")
    row = dict(zip(COLUMNS, [34.0, 1.0, "employed", 2], strict=True))
    client.post("/invocations", json={"dataframe_records": [row] * 3})
    client.get("/readyz")
    text = client.get("/metrics").text
    assert 'service_requests_total{method="POST",route="/invocations",status="200"} 1.0' in text
    assert "service_rows_predicted_total 3.0" in text
    assert 'service_request_duration_seconds_count{route="/invocations"} 1.0' in text
    assert 'route="/readyz"' in text and 'service_request_duration_seconds_count{route="/readyz"}' not in text
    assert "service_model_load_seconds" in text and "service_model_info{" in text
    assert "service_batch_size_rows_bucket" in text
    assert re.search(r'service_prediction_value_count\{output="[^"]+"\} 3\.0', text)  # the canary compares these


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_openapi_request_schema_is_built_from_the_signature(client, fmt):
    operation = client.get("/openapi.json").json()["paths"]["/invocations"]["post"]
    variants = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    by_key = {variant["required"][0]: variant for variant in variants}
    assert fmt in by_key
    if fmt == "dataframe_records":
        row = by_key[fmt]["properties"][fmt]["items"]
        assert row["properties"]["num_credit_cards"]["type"] == "integer"
        assert set(row["required"]) == set(COLUMNS)
    assert client.get("/docs").status_code == 200


def test_an_unexpected_bug_after_predict_is_a_500_without_its_message(loaded_models, caplog, monkeypatch):
    app = create_app(Settings(model_uri="x"), loaded_models["sklearn"])
    monkeypatch.setattr("service.codec.serialise", lambda data: (_ for _ in ()).throw(KeyError(SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        answer = client.post("/invocations", json=ONE_ROW)
    assert answer.status_code == 500 and answer.json()["error_code"] == "INTERNAL_ERROR"
    assert answer.json()["error_id"] in caplog.text or any(
        getattr(r, "error_id", None) == answer.json()["error_id"] for r in caplog.records)
    assert SECRET not in caplog.text and SECRET not in answer.text


def test_anything_that_fails_before_predict_is_a_400_without_its_message(loaded_models, caplog, monkeypatch):
    """Whatever raises while the request is read (a parser's RecursionError, a bug) is the request's fault."""
    app = create_app(Settings(model_uri="x"), loaded_models["sklearn"])
    monkeypatch.setattr("service.codec.row_count", lambda data: (_ for _ in ()).throw(RecursionError(SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.WARNING):
        answer = client.post("/invocations", json=ONE_ROW)
    assert answer.status_code == 400 and answer.json()["field"] == "body" and "error_id" not in answer.json()
    assert any(getattr(record, "error_type", None) == "RecursionError" for record in caplog.records)
    assert SECRET not in caplog.text and SECRET not in answer.text
