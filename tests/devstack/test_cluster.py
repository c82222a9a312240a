"""The cluster harness runs a real Kubernetes: real pods serve HTTP, the kubelet pulls from a local
registry, and the API server validates objects (what the deploy stage relies on)."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.cluster import Cluster
from devstack.image_archive import write_image_archive
from devstack.procs import ManagedProcess, free_port, http_ok, wait_until

pytestmark = pytest.mark.cluster

BUSYBOX = Path("/bin/busybox")  # busybox-static: runs in a FROM-scratch image
HTTPD_IMAGE = "localhost/pyfunc-deploy/httpd:1"  # not :latest, so the kubelet never pulls it


def httpd_archive(path: Path, ref: str) -> Path:
    return write_image_archive(
        path, ref, {"bin/busybox": BUSYBOX, "www/index.html": b"hello from a pod\n"},
        entrypoint=["/bin/busybox"], cmd=["httpd", "-f", "-p", "8080", "-h", "/www"])


def deployment(name: str, image: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    container = {
        "name": "httpd", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [container], "terminationGracePeriodSeconds": 1}}}}


def kubectl(cluster: Cluster, namespace: str, *args: str, stdin: dict | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "-n", namespace, *args], env={**os.environ, **cluster.env},
                          input=json.dumps(stdin) if stdin else None, capture_output=True, text=True,
                          timeout=180, check=check)


@pytest.fixture(scope="module")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain-HTTP registry on 127.0.0.1 (the kubelet pulls from it with no configuration)."""
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    (root / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: {address}\n")
    registry = ManagedProcess(["docker-registry", "serve", str(root / "config.yml")], root / "log")
    try:
        wait_until(lambda: http_ok(f"http://{address}/v2/"), 30, "registry", log=registry.log)
        yield address
    finally:
        registry.stop()


def test_deployment_rolls_out_and_serves_through_the_api_proxy(
        k8s_cluster: Cluster, k8s_namespace: str, tmp_path: Path) -> None:
    from kubernetes import client

    k8s_cluster.load_image(httpd_archive(tmp_path / "httpd.tar", HTTPD_IMAGE))
    kubectl(k8s_cluster, k8s_namespace, "apply", "-f", "-", stdin=deployment("web", HTTPD_IMAGE))
    kubectl(k8s_cluster, k8s_namespace, "apply", "-f", "-", stdin={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})

    kubectl(k8s_cluster, k8s_namespace, "rollout", "status", "deployment/web", "--timeout=120s")

    with k8s_cluster.api_client() as api_client:
        apps = client.AppsV1Api(api_client)
        assert apps.read_namespaced_deployment("web", k8s_namespace).status.ready_replicas == 2
        body = client.CoreV1Api(api_client).connect_get_namespaced_service_proxy_with_path(
            "web:80", k8s_namespace, "index.html")
    assert body == "hello from a pod\n"
    # The API server reaches the kubelet too (logs, exec and port-forward go that way).
    exec_ = kubectl(k8s_cluster, k8s_namespace, "exec", "deployment/web", "--", "/bin/busybox", "echo", "hi")
    assert exec_.stdout == "hi\n"


def test_kubelet_pulls_from_a_local_registry(
        k8s_cluster: Cluster, k8s_namespace: str, local_registry: str, tmp_path: Path) -> None:
    archive = httpd_archive(tmp_path / "pulled.tar", "pulled:1")
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{archive}",
                    f"docker://{local_registry}/pyfunc-deploy/pulled:1"], check=True, timeout=60)
    # A name like a real registry's, mapped to the local one (what CI_REGISTRY looks like).
    k8s_cluster.map_registry("registry.example.test", f"http://{local_registry}")

    for name, image in (("direct", f"{local_registry}/pyfunc-deploy/pulled:1"),
                        ("mapped", "registry.example.test/pyfunc-deploy/pulled:1")):
        kubectl(k8s_cluster, k8s_namespace, "apply", "-f", "-",
                stdin=deployment(name, image, replicas=1))
    for name in ("direct", "mapped"):
        kubectl(k8s_cluster, k8s_namespace, "rollout", "status", f"deployment/{name}",
                "--timeout=120s")


def test_server_side_dry_run_validates_without_creating(
        k8s_cluster: Cluster, k8s_namespace: str) -> None:
    valid = kubectl(k8s_cluster, k8s_namespace, "apply", "--dry-run=server", "-f", "-",
                    stdin=deployment("dry", HTTPD_IMAGE))
    assert "(server dry run)" in valid.stdout
    listed = kubectl(k8s_cluster, k8s_namespace, "get", "deployments", "-o", "name")
    assert listed.stdout.strip() == ""

    broken = deployment("dry", HTTPD_IMAGE)
    broken["spec"]["selector"]["matchLabels"] = {"app": "something-else"}
    invalid = kubectl(k8s_cluster, k8s_namespace, "apply", "--dry-run=server", "-f", "-",
                      stdin=broken, check=False)
    assert invalid.returncode != 0
    assert "selector` does not match template `labels`" in invalid.stderr
