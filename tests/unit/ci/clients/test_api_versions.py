"""ci/clients/api_versions.py: the version an older cluster gets, and the HPA written for autoscaling/v1."""
from __future__ import annotations

import logging

import pytest
import yaml

from ci.clients.api_versions import convert, fallback
from ci.errors import ConfigError
from ci.project import REPO_ROOT

HPA = yaml.safe_load((REPO_ROOT / "manifests/base/hpa.yaml").read_text())


@pytest.mark.parametrize(("api_version", "kind", "served", "chosen"), [
    ("autoscaling/v2", "HorizontalPodAutoscaler", {"autoscaling/v1", "autoscaling/v2beta1", "autoscaling/v2beta2"},
     "autoscaling/v2beta2"),  # 1.20: same fields, behaviour kept
    ("autoscaling/v2", "HorizontalPodAutoscaler", {"autoscaling/v1", "autoscaling/v2beta1"}, "autoscaling/v1"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", set(), None),
    ("policy/v1", "PodDisruptionBudget", {"policy/v1beta1"}, "policy/v1beta1"),
    ("apps/v1", "Deployment", {"apps/v1beta2"}, None),  # no known fallback
])
def test_newest_served_version(api_version, kind, served, chosen):
    assert fallback(api_version, kind, served) == chosen


def test_v2beta2_takes_the_object_as_it_is():
    converted = convert(HPA, "autoscaling/v2beta2")
    assert converted["apiVersion"] == "autoscaling/v2beta2" and converted["spec"] == HPA["spec"]
    assert HPA["apiVersion"] == "autoscaling/v2"  # a copy


def test_v1_keeps_the_cpu_target_and_drops_the_behaviour(caplog):
    with caplog.at_level(logging.WARNING, logger="ci.clients.kube"):
        converted = convert(HPA, "autoscaling/v1")
    assert converted["spec"] == {"scaleTargetRef": HPA["spec"]["scaleTargetRef"], "minReplicas": 2,
                                 "maxReplicas": 6, "targetCPUUtilizationPercentage": 70}
    assert "no `behavior`" in caplog.text


def test_v1_without_metrics_takes_the_cluster_default():
    bare = {**HPA, "spec": {k: v for k, v in HPA["spec"].items() if k not in ("metrics", "behavior")}}
    assert "targetCPUUtilizationPercentage" not in convert(bare, "autoscaling/v1")["spec"]


@pytest.mark.parametrize("metric", [
    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
    {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "50"}}},
])
def test_v1_refuses_what_it_cannot_express(metric):
    hpa = {**HPA, "spec": {**HPA["spec"], "metrics": [*HPA["spec"]["metrics"], metric]}}
    with pytest.raises(ConfigError, match="scales on more than CPU utilisation"):
        convert(hpa, "autoscaling/v1")
