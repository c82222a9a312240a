"""ci/capacity/pod_shape.py: CPU request/limit, memory limit and the HPA of one Deployment among rendered objects."""
from __future__ import annotations

import pytest

from ci.capacity.pod_shape import from_objects
from ci.errors import ConfigError


def deployment(name="web", **resources):
    return {"kind": "Deployment", "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": resources}]}}}}


def hpa(target):
    return {"kind": "HorizontalPodAutoscaler", "metadata": {"name": target},
            "spec": {"scaleTargetRef": {"name": target}, "maxReplicas": 5}}


def test_reads_quantities_and_the_hpa():
    shape = from_objects([deployment(requests={"cpu": "250m"}, limits={"cpu": "1500m", "memory": "1Gi"}),
                          hpa("other"), hpa("web")])
    assert (shape.cpu_request, shape.cpu_limit, shape.memory_limit) == (0.25, 1.5, 1024 ** 3)
    assert shape.hpa["scaleTargetRef"]["name"] == "web"


def test_the_startup_budget_is_what_the_probe_waits_with_kubernetes_defaults():
    probed = deployment(requests={"cpu": "1"})
    container = probed["spec"]["template"]["spec"]["containers"][0]
    container["startupProbe"] = {"httpGet": {"path": "/healthz"}, "initialDelaySeconds": 5, "periodSeconds": 2,
                                 "failureThreshold": 60}
    assert from_objects([probed]).startup_seconds == 125.0
    container["startupProbe"] = {"httpGet": {"path": "/healthz"}}
    assert from_objects([probed]).startup_seconds == 30.0  # 10 s x 3
    del container["startupProbe"]
    assert from_objects([probed]).startup_seconds is None


def test_request_defaults_to_the_limit_as_kubernetes_does():
    shape = from_objects([deployment(limits={"cpu": "2"})])
    assert (shape.cpu_request, shape.memory_limit, shape.hpa) == (2.0, None, None)


@pytest.mark.parametrize(("objects", "name", "message"), [
    ([deployment()], None, "no CPU request"),
    ([deployment(requests={"cpu": "lots"})], None, "'lots' is not a Kubernetes quantity"),
    ([], None, "render no Deployment"),
    ([deployment("a"), deployment("b")], None, "KUBE_DEPLOYMENT"),
    ([deployment("a")], "b", "KUBE_DEPLOYMENT"),
])
def test_errors_say_what_to_fix(objects, name, message):
    with pytest.raises(ConfigError, match=message):
        from_objects(objects, name)
