"""S3 artifact store fixtures: one real S3 server (SeaweedFS) and two MLflow servers on it, the two
ways production MLflow keeps artifacts in S3/MinIO (`mlflow_s3[mode]`, mode in S3_MODES):

- proxied: `--artifacts-destination s3://… --serve-artifacts`; the *server* holds the endpoint and the
  keys, clients (the test process, the `ci` jobs) have none.
- direct: `--default-artifact-root s3://… --no-serve-artifacts`; the server never touches the store,
  every client needs MLFLOW_S3_ENDPOINT_URL and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""
from __future__ import annotations

import pytest

from devstack.mlflow_server import MlflowServer
from devstack.seaweedfs import SeaweedS3

S3_MODES = ("proxied", "direct")


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory):
    with SeaweedS3(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_s3(tmp_path_factory, seaweed_s3) -> dict[str, MlflowServer]:
    """Both servers, started side by side (an MLflow server takes most of its start-up importing)."""
    servers = {
        "proxied": MlflowServer(tmp_path_factory.mktemp("mlflow-s3-proxied"),
                                artifacts_destination=seaweed_s3.uri("proxied"), env=seaweed_s3.env()),
        "direct": MlflowServer(tmp_path_factory.mktemp("mlflow-s3-direct"),
                               default_artifact_root=seaweed_s3.uri("direct")),
    }
    try:
        for server in servers.values():
            server.launch()
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
