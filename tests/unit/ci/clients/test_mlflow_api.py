"""ci/clients/mlflow_api.py: credential redaction, and the retry/translation policy of `MlflowApi.call` with
calls that fail in-process (the client is built, never used: nothing listens on its URL)."""
from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from ci.clients.mlflow_api import MlflowApi, NotFound
from ci.errors import CheckFailed, ConfigError
from ci.redact import SECRET_ENV, redact


@pytest.mark.parametrize(("text", "env", "expected"), [
    pytest.param("http://bob:pw@mlflow:5000/api", {}, "http://***@mlflow:5000/api", id="userinfo-http"),
    pytest.param("see https://tok@h/x and http://a:b@g/y", {}, "see https://***@h/x and http://***@g/y",
                 id="two-urls"),
    pytest.param("http://mlflow:5000/api?x=a@b", {}, "http://mlflow:5000/api?x=a@b", id="at-after-the-path"),
    pytest.param("token abc123 in a message", {"MLFLOW_TRACKING_TOKEN": "abc123"}, "token *** in a message",
                 id="token-env"),
    pytest.param("pw=hunter2!", {"MLFLOW_TRACKING_PASSWORD": "hunter2!"}, "pw=***", id="password-env"),
    pytest.param("plain text", {"MLFLOW_TRACKING_TOKEN": ""}, "plain text", id="empty-secret-ignored"),
])
def test_redact(monkeypatch, text, env, expected):
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert redact(text) == expected


def test_an_empty_tracking_uri_is_a_config_error():
    with pytest.raises(ConfigError, match="set MLFLOW_TRACKING_URI"):
        MlflowApi("")


@pytest.fixture
def api(monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    return MlflowApi("http://alice:pw@127.0.0.1:9")


def failing(*errors, result="done"):
    """A call that raises each of `errors` in turn, then returns `result`; counts attempts."""
    attempts = []

    def call():
        attempts.append(1)
        if len(attempts) <= len(errors):
            raise errors[len(attempts) - 1]
        return result
    return call, attempts


@pytest.mark.parametrize(("error", "raised", "message"), [
    pytest.param(MlflowException("Registered Model with name=x not found", error_code=RESOURCE_DOES_NOT_EXIST),
                 NotFound, "get model on http://***@127.0.0.1:9: Registered Model with name=x not found",
                 id="404-not-found"),
    pytest.param(MlflowException("denied", error_code=PERMISSION_DENIED), ConfigError,
                 "The tracking server refused the credentials", id="403-credentials"),
    pytest.param(MlflowException("bad name", error_code=INVALID_PARAMETER_VALUE), CheckFailed,
                 "get model on http://***@127.0.0.1:9: bad name", id="400-check-failed"),
    pytest.param(ValueError("a bug"), ValueError, "a bug", id="other-exceptions-unchanged"),
])
def test_client_errors_are_translated_without_retry(api, error, raised, message):
    call, attempts = failing(error)
    with pytest.raises(raised) as caught:
        api.call("get model", call)
    assert message in str(caught.value)
    assert len(attempts) == 1


def test_transient_errors_are_retried(api, monkeypatch):
    sleeps = []
    monkeypatch.setattr("ci.clients.mlflow_api.time.sleep", sleeps.append)
    call, attempts = failing(MlflowException("busy", error_code=TEMPORARILY_UNAVAILABLE),
                             ConnectionError("reset"))
    assert api.call("get model", call) == "done"
    assert len(attempts) == 3 and sleeps == [0.25, 0.5]


def test_one_attempt_settings_apply_during_the_call_only(api, monkeypatch):
    import os

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    seen = {}
    api.call("peek", lambda: seen.update(retries=os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"],
                                         timeout=os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]))
    assert seen == {"retries": "0", "timeout": "2"}
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_safe_url(api):
    assert api.safe_url == "http://***@127.0.0.1:9"
