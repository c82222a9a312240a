"""ci/deploy/apply.py: labels, the changes report and stale objects, against a fake Kube (no cluster)."""
from __future__ import annotations

import pytest

from ci.deploy import apply as deploy_apply
from ci.deploy.fields import Target

TARGET = Target("ns", "web", "web", "reg/web@sha256:abc", "credit", "4")


def obj(kind, name, api_version="v1", **spec):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **({"spec": spec} if spec else {})}


class FakeKube:
    def __init__(self, live: dict, labelled: dict):
        self.live, self._labelled, self.applied, self.deleted = live, labelled, [], []

    def get_object(self, api_version, kind, name):
        return self.live.get(f"{kind}/{name}")

    def apply_object(self, o):
        self.applied.append(f"{o['kind']}/{o['metadata']['name']}")
        return {**o, "metadata": {**o["metadata"], "resourceVersion": "9", "managedFields": [{"manager": "x"}]},
                "status": {"currentReplicas": 2}}

    def labelled(self, api_version, kind, selector):
        assert selector == "app.kubernetes.io/managed-by=pyfunc-deploy,pyfunc-deploy.io/deployment=web"
        return [{"metadata": {"name": n}} for n in self._labelled.get(kind, [])]

    def delete_object(self, api_version, kind, name):
        self.deleted.append((api_version, kind, name))


def rendered():
    return [obj("Deployment", "web", "apps/v1", replicas=2, template={"spec": {"containers": [{"name": "web"}]}}),
            obj("HorizontalPodAutoscaler", "web", "autoscaling/v1", maxReplicas=4), obj("Service", "web", port=80)]


def test_apply_all_applies_the_deployment_last_and_reports_changes_and_stale_objects():
    kube = FakeKube({"HorizontalPodAutoscaler/web": obj("HorizontalPodAutoscaler", "web", "autoscaling/v1",
                                                        maxReplicas=3)},
                    {"PodDisruptionBudget": ["web"], "Service": ["web", "old-svc"]})
    current = obj("Deployment", "web", "apps/v1", replicas=5, template={"spec": {"containers": [{"name": "web"}]}})
    result = deploy_apply.apply_all(kube, TARGET, rendered(), current)
    assert kube.applied[-1] == "Deployment/web"
    assert result.objects == {"HorizontalPodAutoscaler/web": ["spec.maxReplicas: 3 -> 4"], "Service/web": ["created"]}
    assert result.deployment_changes == []  # spec.replicas (the HPA's) and server bookkeeping are ignored
    assert result.stale == ["PodDisruptionBudget/web", "Service/old-svc"] and kube.deleted == []


def test_prune_deletes_only_the_stale_objects():
    kube = FakeKube({}, {"ConfigMap": ["gone"]})
    result = deploy_apply.apply_all(kube, Target(**{**TARGET.__dict__, "prune": True}), rendered(), None)
    assert kube.deleted == [("v1", "ConfigMap", "gone")] and result.pruned == ["ConfigMap/gone"]
    assert result.stale == ["ConfigMap/gone"]


def hpa(target_name: str) -> dict:
    return obj("HorizontalPodAutoscaler", "web", "autoscaling/v2", maxReplicas=8,
               scaleTargetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": target_name})


@pytest.mark.parametrize(("objects", "live", "applied"), [
    pytest.param([hpa("web")], 6, 6, id="autoscaled-keeps-the-live-count"),
    pytest.param([hpa("web")], None, 2, id="first-deploy-takes-the-overlay's"),
    pytest.param([hpa("other")], 6, 2, id="an-hpa-for-another-deployment"),
    pytest.param([], 6, 2, id="no-hpa-the-overlay-decides"),
])
def test_an_autoscaled_deployment_keeps_its_live_replicas(objects, live, applied):
    deployment = obj("Deployment", "web", "apps/v1", replicas=2)
    current = None if live is None else obj("Deployment", "web", "apps/v1", replicas=live)
    deploy_apply.keep_autoscaled_replicas([deployment, *objects], TARGET, current)
    assert deployment["spec"]["replicas"] == applied
