"""The local infrastructure a pipeline needs, together: MLflow (sqlite), an OCI registry with
private buildah/podman/skopeo configuration, and the single-node cluster, all on 127.0.0.1.

Why one object: the pipeline in a box and the end-to-end tests need the same wiring — the
registry trusted by the builder, the kubelet pulling `127.0.0.1:PORT/...` over plain HTTP, and
the environment variables that point every `python -m ci` command at these servers. Parts that
are passed in (the session fixtures) are reused and left running; parts it starts, it stops.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack import pipeline_image
from devstack.cluster import Cluster
from devstack.mlflow_server import MlflowServer
from devstack.oci import ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry
from devstack.procs import InfraError, wait_until

MODEL_NAME = "credit-risk"
IMAGE_PATH = "pyfunc-deploy/credit-risk"
NAMESPACES = {"staging": "pyfunc-staging", "production": "pyfunc-production"}
# Gate settings for a 2-core machine shared with the cluster: the box checks the flow, not capacity.
QUICK_GATES = {
    "LOADTEST_USERS": "4",
    "LOADTEST_DURATION": "10s",
    "LOADTEST_WARMUP": "3s",
    "LOADTEST_RATE": "5",
    "LATENCY_P95_MS": "2000",
    "LATENCY_P99_MS": "5000",
    "LATENCY_MAX_ERROR_RATE": "0.01",
    "LATENCY_MIN_RPS": "1",
    "ROLLOUT_TIMEOUT_SECONDS": "300",
}


@dataclass
class LocalStack:
    """`start()` brings up what was not given; `variables()` is what a pipeline run needs."""

    root: Path
    mlflow: MlflowServer | None = None
    registry: OciRegistry | None = None
    tools: ContainerTools | None = None
    cluster: Cluster | None = None
    namespaces: dict[str, str] = field(default_factory=lambda: dict(NAMESPACES))
    timings: dict[str, float] = field(default_factory=dict)
    _owned: list = field(default_factory=list)

    def start(self) -> LocalStack:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            if self.mlflow is None:
                self.mlflow = self._own(self._timed("mlflow", MlflowServer(self.root / "mlflow").start))
            if self.registry is None:
                self.registry = self._own(self._timed(
                    "registry", OciRegistry(self.root / "registry", seed=seed_storage()).start))
            if self.tools is None:  # not owned: its layer cache is what makes warm builds fast
                self.tools = ContainerTools(self.root / "containers")
            self.tools.trust(self.registry.address)
            if self.cluster is None:
                self.cluster = self._own(self._timed("cluster", Cluster().start))
            self._create_namespaces()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what this stack started, newest first; fixtures passed in are left to their owners."""
        while self._owned:
            self._owned.pop().stop()

    def register_model(self, name: str = MODEL_NAME, alias: str | None = "production", seed: int = 7):
        """Train the credit-risk example and register it as a new version (MLflow's ModelVersion)."""
        from examples.credit_risk.train import train_and_register

        started = time.monotonic()
        version = train_and_register(self.mlflow.url, "pyfunc", name, alias, None, seed)
        self.timings["register"] = time.monotonic() - started
        return version

    def variables(self, model_name: str = MODEL_NAME) -> dict[str, str]:
        """Everything the pipeline's jobs read from the environment to use this stack."""
        if self.cluster is None or self.mlflow is None or self.registry is None:
            raise InfraError("LocalStack.variables() before start()")
        return {
            "MLFLOW_TRACKING_URI": self.mlflow.url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MODEL_NAME": model_name,
            "IMAGE_REPOSITORY": f"{self.registry.address}/{IMAGE_PATH}",
            "KUBE_NAMESPACE_STAGING": self.namespaces["staging"],
            "KUBE_NAMESPACE_PRODUCTION": self.namespaces["production"],
            # this project's own pipeline-image job (devstack.pipeline_image.ensure pre-seeds it)
            "PIPELINE_IMAGE_REPOSITORY": f"{self.registry.address}/{pipeline_image.PATH}",
            **self.tools.env,
            **self.cluster.env,
            **QUICK_GATES,
        }

    def live_version(self, environment: str, service: str = "pyfunc-model") -> dict:
        """/version of the live Service in `environment`, through the API server's service proxy
        (no kube-proxy here)."""
        import json

        from kubernetes import client

        with self.cluster.api_client() as api_client:
            response = client.CoreV1Api(api_client).connect_get_namespaced_service_proxy_with_path(
                f"{service}:http", self.namespaces[environment], "version", _preload_content=False)
            return json.loads(response.data)

    def _create_namespaces(self) -> None:
        """The environments' namespaces exist before a pipeline runs, as on a real cluster."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with self.cluster.api_client() as api_client:
            core = client.CoreV1Api(api_client)
            for name in self.namespaces.values():
                try:
                    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
                except ApiException as exc:
                    if exc.status != 409:  # 409: already there (a shared session cluster)
                        raise
            for name in self.namespaces.values():  # v1.20: pods are refused until the SA has its token
                wait_until(lambda n=name: bool(core.read_namespaced_service_account("default", n).secrets),
                           30, f"service account default in {name}")

    def delete_namespaces(self) -> None:
        """When a test module is done with a shared cluster: the modules after it on this cluster need the
        cores its service pods requested."""
        from kubernetes import client

        with self.cluster.api_client() as api_client:
            for name in self.namespaces.values():
                client.CoreV1Api(api_client).delete_namespace(name)

    def _own(self, part):
        self._owned.append(part)
        return part

    def _timed(self, name: str, start):
        started = time.monotonic()
        result = start()
        self.timings[name] = time.monotonic() - started
        print(f"[stack] {name} up in {self.timings[name]:.1f}s", file=sys.stderr, flush=True)
        return result


def host_path_with_venv() -> str:
    """PATH with this interpreter's bin first: jobs then find the project's venv as `python`."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
