"""service/errors.py: one JSON error shape for every status."""
from __future__ import annotations

import json

import pytest

from service.errors import (
    ERROR_BODY_LIMIT,
    NAME_LIMIT,
    BadRequest,
    ModelError,
    NotReady,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    error_response_body,
    quoted_name,
)


@pytest.mark.parametrize(("error", "status", "body"), [
    pytest.param(BadRequest("no rows", field="inputs", expected="at least one row"), 400,
                 {"error_code": "BAD_REQUEST", "message": "no rows", "field": "inputs", "expected": "at least one row"},
                 id="bad-request"),
    pytest.param(BadRequest("x", field="", expected=""), 400,
                 {"error_code": "BAD_REQUEST", "message": "x", "field": "", "expected": ""}, id="empty-field-kept"),
    pytest.param(PayloadTooLarge("too big"), 413, {"error_code": "REQUEST_TOO_LARGE", "message": "too big"},
                 id="too-large"),
    pytest.param(UnsupportedMediaType("nope", field="Content-Type"), 415,
                 {"error_code": "UNSUPPORTED_MEDIA_TYPE", "message": "nope", "field": "Content-Type"}, id="media"),
    pytest.param(NotReady("loading"), 503, {"error_code": "NOT_READY", "message": "loading"}, id="not-ready"),
    pytest.param(ServiceError("boom"), 500, {"error_code": "INTERNAL_ERROR", "message": "boom"}, id="base"),
])
def test_status_and_body(error, status, body):
    assert error.status == status
    assert error.body() == body
    assert str(error) == body["message"]


def test_model_error_carries_a_fresh_id_in_message_and_body():
    first, second = ModelError(), ModelError()
    assert first.error_id != second.error_id and len(first.error_id) == 32
    assert first.status == 500
    assert first.body() == {"error_code": "INTERNAL_ERROR", "error_id": first.error_id,
                            "message": f"the model failed to predict; quote error_id {first.error_id} to the operator"}


@pytest.mark.parametrize(("request_id", "extra"), [
    pytest.param("req-1", {"request_id": "req-1"}, id="with-request-id"),
    pytest.param(None, {}, id="without"),
    pytest.param("", {}, id="empty-request-id"),
])
def test_error_response_body(request_id, extra):
    body = error_response_body(BadRequest("bad", field="a"), request_id)
    assert json.loads(body) == {"error_code": "BAD_REQUEST", "message": "bad", "field": "a", **extra}


@pytest.mark.parametrize(("name", "shown"), [
    ("age", "age"),
    ("n" * 200, "n" * (NAME_LIMIT - 1) + "\u2026"),
    ("a\x1b[31mb\u202ec\nd", "a\\x1b[31mb\\u202ec\\nd"),
    ("\x00" * 40, ("\\x00" * 40)[:NAME_LIMIT - 1] + "\u2026"),
    ("é名", "é名"),
], ids=["plain", "long", "control", "escaped-too-long", "unicode"])
def test_a_client_name_is_escaped_and_shortened(name, shown):
    assert quoted_name(name) == shown and len(quoted_name(name)) <= NAME_LIMIT


def test_every_error_body_is_capped_however_long_its_texts():
    error = BadRequest("m" * 10_000, field="f" * 5000, expected="e\u00e9" * 9000)
    body = error_response_body(error, "req-1")
    assert len(body) <= ERROR_BODY_LIMIT
    decoded = json.loads(body)
    assert decoded["error_code"] == "BAD_REQUEST" and decoded["request_id"] == "req-1"
    assert decoded["message"].startswith("mmm") and decoded["expected"].endswith("\u2026")
    small = BadRequest("short", field="x")
    assert json.loads(error_response_body(small, None)) == small.body()
