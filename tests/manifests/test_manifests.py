"""manifests/: both overlays render, carry what the issue asks of a production Deployment, line up
with the server's shutdown timings, and are accepted by the real API server (a server-side dry run
of what `ci deploy` applies), in current API versions."""
from __future__ import annotations

from pathlib import Path

import pytest

from ci.clients import api_versions, kube
from ci.tools import kubectl
from devstack.cluster import Cluster
from service.settings import DEFAULT_GRACEFUL_TIMEOUT_SECONDS, DEFAULT_PORT

OVERLAYS = Path(__file__).resolve().parents[2] / "manifests" / "overlays"
ENVIRONMENTS = ["staging", "production"]


def render(environment: str) -> dict[str, dict]:
    """The overlay's objects by kind, rendered the way `ci deploy` renders them."""
    return {doc["kind"]: doc for doc in kubectl.kustomize(OVERLAYS / environment)}


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


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_uses_api_versions_current_clusters_serve(environment: str) -> None:
    """policy/v1beta1 and autoscaling/v2beta* are gone since Kubernetes 1.25/1.26."""
    versions = {kind: obj["apiVersion"] for kind, obj in render(environment).items()}
    assert versions == {"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1",
                        "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_hpa_scales_up_fast_and_down_slowly(environment: str) -> None:
    """autoscaling/v2 with `behavior`: no stabilisation before a scale-up (a pod needs time to load the
    model), minutes of it before a scale-down, and on CPU utilisation of the request."""
    spec = render(environment)["HorizontalPodAutoscaler"]["spec"]
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0 and down["stabilizationWindowSeconds"] >= 300
    assert max(p["value"] for p in up["policies"] if p["type"] == "Percent") >= 100
    assert all(p["value"] <= 20 for p in down["policies"] if p["type"] == "Percent")
    assert spec["minReplicas"] <= spec["maxReplicas"]


@pytest.mark.cluster
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_is_accepted_by_the_api_server(k8s_cluster: Cluster, k8s_namespace: str, environment: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """The v1.20 test cluster does not serve policy/v1 yet: ci deploy applies the PDB as v1beta1."""
    client = kube.connect(k8s_namespace, kubeconfig=str(k8s_cluster.kubeconfig))
    with caplog.at_level("INFO", logger="ci.clients.kube"):
        applied = client.apply(kubectl.kustomize(OVERLAYS / environment), dry_run=True)
    assert sorted(applied) == ["Deployment/pyfunc-model", "HorizontalPodAutoscaler/pyfunc-model",
                               "PodDisruptionBudget/pyfunc-model", "Service/pyfunc-model",
                               "ServiceAccount/pyfunc-model"]
    assert "policy/v1 PodDisruptionBudget is not served by this cluster: applied as policy/v1beta1" in caplog.text
    assert ("autoscaling/v2 HorizontalPodAutoscaler is not served by this cluster: applied as autoscaling/v2beta2"
            in caplog.text)
    assert client.deployment("pyfunc-model") is None  # a dry run created nothing


@pytest.mark.cluster
def test_the_hpa_as_autoscaling_v1_is_accepted_by_the_api_server(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    """Where a cluster serves neither v2 nor v2beta2, `ci deploy` writes the HPA for autoscaling/v1: the
    real API server takes that object, with the CPU target kept."""
    client = kube.connect(k8s_namespace, kubeconfig=str(k8s_cluster.kubeconfig))
    hpa = render("production")["HorizontalPodAutoscaler"]
    answered = client.apply_object(api_versions.convert(hpa, "autoscaling/v1"), dry_run=True)
    assert answered["apiVersion"] == "autoscaling/v1"
    assert answered["spec"]["targetCPUUtilizationPercentage"] == 70 and answered["spec"]["maxReplicas"] == 10
