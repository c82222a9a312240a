"""manifests/: both overlays render, carry what the issue asks of a production Deployment, line up
with the server's shutdown timings, and are accepted by the real API server (server-side dry run)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from service.settings import DEFAULT_GRACEFUL_TIMEOUT_SECONDS, DEFAULT_PORT
from tests.infra.cluster import Cluster

OVERLAYS = Path(__file__).resolve().parents[2] / "manifests" / "overlays"
ENVIRONMENTS = ["staging", "production"]


def render(environment: str) -> dict[str, dict]:
    text = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / environment)], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_renders_a_safe_rolling_deployment(environment: str) -> None:
    objects = render(environment)
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                            "ServiceAccount"}
    dep = objects["Deployment"]
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] >= 2 and objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["ports"][0]["containerPort"] == DEFAULT_PORT
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    startup_budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert spec["progressDeadlineSeconds"] > startup_budget  # a slow model load is not a failed rollout
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) <= set(container["resources"]["limits"])
    # preStop delay + the server's graceful timeout fit in the grace period
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    graceful = int(env.get("SERVICE_GRACEFUL_TIMEOUT_SECONDS", DEFAULT_GRACEFUL_TIMEOUT_SECONDS))
    assert pre_stop + graceful < pod["terminationGracePeriodSeconds"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert "pyfunc-deploy.io/model-version" in dep["spec"]["template"]["metadata"]["labels"]
    # the Service, PDB and Deployment select the same pods
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for selector in (objects["Service"]["spec"]["selector"],
                     objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert pod["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]


@pytest.mark.cluster
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_is_accepted_by_the_api_server(k8s_cluster: Cluster, k8s_namespace: str, environment: str) -> None:
    text = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / environment)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    result = subprocess.run(["kubectl", "-n", k8s_namespace, "apply", "--dry-run=server", "-f", "-"], input=text,
                            env={**os.environ, **k8s_cluster.env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == 5, result.stdout
