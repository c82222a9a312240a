"""ci/deploy/rollout.py: a failed startup probe, decided from the pod's events with the probe's allowance."""
from __future__ import annotations

import pytest

from ci.deploy.rollout import starting, startup_allowance, startup_evidence

FIELD = "spec.containers{model}"
PROBE = {"httpGet": {"path": "/healthz"}, "periodSeconds": 2, "failureThreshold": 3}


def pod(probe=PROBE, containers=("model",)) -> dict:
    return {"metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": n, **({"startupProbe": probe} if probe and n == "model" else {})}
                                    for n in containers]}}


def event(message: str, count: int = 1, field: str | None = FIELD, reason: str = "Unhealthy") -> dict:
    return {"reason": reason, "message": message, "count": count,
            "involvedObject": {"kind": "Pod", "name": "web-1", **({"fieldPath": field} if field else {})}}


FAILED = "Startup probe failed: Get \"http://10.0.0.5:8080/healthz\": connect: connection refused"
KILLED = "Container model failed startup probe, will be restarted"


@pytest.mark.parametrize(("probe", "seconds", "formula"), [
    (PROBE, 6, "failureThreshold 3 x periodSeconds 2 + initialDelaySeconds 0"),
    ({}, 30, "failureThreshold 3 x periodSeconds 10 + initialDelaySeconds 0"),  # Kubernetes' defaults
    ({"periodSeconds": 2, "failureThreshold": 60, "initialDelaySeconds": 5}, 125,
     "failureThreshold 60 x periodSeconds 2 + initialDelaySeconds 5"),
])
def test_startup_allowance(probe, seconds, formula):
    assert startup_allowance(probe) == (seconds, formula)


@pytest.mark.parametrize(("the_pod", "events", "expected"), [
    pytest.param(pod(), [], None, id="no-events"),
    pytest.param(pod(), [event(FAILED, count=2)], None, id="fewer-failures-than-the-threshold"),
    pytest.param(pod(), [event(FAILED, count=3)], "its startup probe failed 3 times (failureThreshold 3): the "
                 "kubelet restarts it", id="threshold-reached-before-the-kill"),
    pytest.param(pod(), [event(FAILED), event(KILLED, reason="Killing")], "the kubelet restarted the container",
                 id="killed"),
    pytest.param(pod(), [event(FAILED, count=5, field="spec.containers{sidecar}")], None,
                 id="another-containers-probe"),
    pytest.param(pod(containers=("model", "sidecar")), [event(FAILED, count=3, field=None)], None,
                 id="no-field-path-with-two-containers"),
    pytest.param(pod(probe=None), [event(FAILED, count=9)], None, id="no-startup-probe"),
    pytest.param(pod(), [event("Readiness probe failed: 503", count=9)], None, id="readiness-is-not-startup"),
])
def test_startup_evidence(the_pod, events, expected):
    evidence = startup_evidence(the_pod, events)
    if expected is None:
        assert evidence is None
        return
    assert evidence.reason == "StartupProbe" and evidence.pod == "web-1" and evidence.container == "model"
    assert str(evidence) == (
        "StartupProbe: pod web-1 container model: the model needs more than 6s to load and the startup probe "
        f"allows 6s (failureThreshold 3 x periodSeconds 2 + initialDelaySeconds 0); {expected} (last probe: Get "
        "\"http://10.0.0.5:8080/healthz\": connect: connection refused). Raise the startupProbe's "
        "failureThreshold (manifests) or speed up load_context")


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], True),
    ([{"name": "model", "started": False, "restartCount": 0}], True),
    ([{"name": "model", "started": True, "restartCount": 0}], False),
    ([{"name": "model", "started": True, "restartCount": 1}], True),
])
def test_starting(statuses, expected):
    assert starting({"status": {"containerStatuses": statuses}}) is expected
