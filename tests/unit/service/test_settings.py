"""service/settings.py: SERVICE_* variables, defaults and bounds."""
from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from service.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SERVICE_"):
            monkeypatch.delenv(name)


def test_defaults():
    settings = Settings()
    all_interfaces = "0.0.0.0"  # noqa: S104 - the expected default, nothing binds here
    assert (settings.model_uri, settings.host, settings.port, settings.workers) == ("/opt/model", all_interfaces,
                                                                                    8080, None)
    assert (settings.max_body_bytes, settings.max_rows, settings.batching_enabled) == (5 * 1024 * 1024, 10_000, True)
    assert (settings.batch_max_rows, settings.batch_max_wait_ms, settings.drain_seconds) == (256, 2.0, 0.0)
    assert (settings.keepalive_seconds, settings.graceful_timeout_seconds, settings.max_requests) == (75, 20, 1_000_000)
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(("env", "field", "value"), [
    pytest.param({"SERVICE_PORT": "9000"}, "port", 9000, id="port"),
    pytest.param({"SERVICE_MODEL_URI": "models:/m@prod"}, "model_uri", "models:/m@prod", id="model-uri"),
    pytest.param({"SERVICE_BATCHING_ENABLED": "true"}, "batching_enabled", True, id="bool-true"),
    pytest.param({"SERVICE_BATCHING_ENABLED": "0"}, "batching_enabled", False, id="bool-zero"),
    pytest.param({"SERVICE_BATCH_MAX_WAIT_MS": "0"}, "batch_max_wait_ms", 0.0, id="zero-wait"),
    pytest.param({"SERVICE_MAX_REQUESTS": "0"}, "max_requests", 0, id="never-recycle"),
    pytest.param({"service_workers": "3"}, "workers", 3, id="lower-case-name"),
    pytest.param({"SERVICE_MODEL_VERSION": "7"}, "model_version", "7", id="model-version-string"),
    pytest.param({"SERVICE_UNKNOWN_THING": "x", "PORT": "1"}, "port", 8080, id="unknown-and-unprefixed-ignored"),
])
def test_environment(monkeypatch, env, field, value):
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    assert getattr(Settings(), field) == value


@pytest.mark.parametrize(("env", "field"), [
    pytest.param({"SERVICE_PORT": "0"}, "port", id="port-zero"),
    pytest.param({"SERVICE_PORT": "65536"}, "port", id="port-too-high"),
    pytest.param({"SERVICE_WORKERS": "0"}, "workers", id="no-workers"),
    pytest.param({"SERVICE_MAX_ROWS": "0"}, "max_rows", id="no-rows"),
    pytest.param({"SERVICE_MAX_BODY_BYTES": "0"}, "max_body_bytes", id="no-body"),
    pytest.param({"SERVICE_BATCH_MAX_WAIT_MS": "-1"}, "batch_max_wait_ms", id="negative-wait"),
    pytest.param({"SERVICE_DRAIN_SECONDS": "-0.5"}, "drain_seconds", id="negative-drain"),
    pytest.param({"SERVICE_KEEPALIVE_SECONDS": "0"}, "keepalive_seconds", id="no-keepalive"),
    pytest.param({"SERVICE_MAX_REQUESTS": "-1"}, "max_requests", id="negative-max-requests"),
    pytest.param({"SERVICE_PORT": "http"}, "port", id="port-not-a-number"),
])
def test_out_of_bounds_is_refused_naming_the_field(monkeypatch, env, field):
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("SERVICE_PORT", "9000")
    assert Settings(port=7000).port == 7000
