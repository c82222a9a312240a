"""ci/deploy/smoke.py: the post-rollout smoke through a fake service proxy (no cluster)."""
from __future__ import annotations

import pytest

from ci.deploy.smoke import Smoke, smoke


class FakeProxy:
    """Answers /version and /invocations from scripts; the last answer repeats."""

    def __init__(self, versions: list[tuple[int, bytes]], prediction: tuple[int, bytes]):
        self.versions, self.prediction, self.requests = list(versions), prediction, []

    def proxy(self, method, service, port, path, body=None):
        self.requests.append((method, service, port, path, body))
        if path == "invocations":
            return self.prediction
        return self.versions.pop(0) if len(self.versions) > 1 else self.versions[0]


CHECK = Smoke(service="web", port="http", body=b'{"inputs": [1]}', timeout=30, consecutive=3)
V4 = (200, b'{"model_version": "4"}')


@pytest.mark.parametrize(("versions", "prediction", "expected"), [
    pytest.param([V4], (200, b'{"predictions": [0.5]}'), {"ok": True, "version": "4", "prediction_status": 200},
                 id="passes"),
    pytest.param([(200, b'{"model_version": 4}')], (200, b'{"predictions": []}'),
                 {"ok": True, "version": "4", "prediction_status": 200}, id="numeric-version"),
    pytest.param([V4], (500, b'{"error_code": "INTERNAL_ERROR"}'),
                 {"ok": False, "version": "4", "prediction_status": 500,
                  "error": "prediction on the input example answered 500 without predictions"}, id="prediction-500"),
    pytest.param([V4], (200, b"[0.5]"),
                 {"ok": False, "version": "4", "prediction_status": 200,
                  "error": "prediction on the input example answered 200 without predictions"}, id="not-an-object"),
])
def test_smoke(versions, prediction, expected):
    kube = FakeProxy(versions, prediction)
    assert smoke(kube, CHECK, "4") == expected
    assert [r[3] for r in kube.requests] == ["version", "version", "version", "invocations"]
    assert kube.requests[-1] == ("POST", "web", "http", "invocations", b'{"inputs": [1]}')


def test_smoke_gives_up_at_the_timeout_naming_what_it_saw():
    kube = FakeProxy([(200, b'{"model_version": "3"}')], (200, b"{}"))
    result = smoke(kube, Smoke("web", "http", b"{}", timeout=-1), "4")
    assert result == {"ok": False, "version": None, "error": "smoke on service web: no answer after -1s"}
    assert kube.requests == []


def test_smoke_counts_consecutive_answers(monkeypatch):
    sleeps = []
    monkeypatch.setattr("ci.deploy.smoke.time.sleep", sleeps.append)
    kube = FakeProxy([V4, (200, b'{"model_version": "3"}'), V4, (503, b""), V4, V4, V4], (200, b'{"predictions": 1}'))
    assert smoke(kube, CHECK, "4")["ok"] is True
    assert len(sleeps) == 2 and len([r for r in kube.requests if r[3] == "version"]) == 7
