"""Fixtures for the real single-node cluster (devstack/cluster.py).

`k8s_cluster` starts once per session (~25 s) and raises with the components' log tails when it
cannot start: a test that needs Kubernetes fails, it never skips. `k8s_namespace` gives each test
a fresh namespace whose default service account can already run pods. `prometheus` (per module): a
real Prometheus scraping every pod of that cluster once a second, behind a password.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.cluster import Cluster, delete_namespace, new_namespace
from devstack.prometheus import Prometheus


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    cluster = Cluster().start()  # raises InfraError with the components' log tails
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def prometheus(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with Prometheus(tmp_path_factory.mktemp("prometheus"), k8s_cluster.api_url, k8s_cluster.token,
                    k8s_cluster.ca_file) as server:
        yield server


@pytest.fixture
def k8s_namespace(k8s_cluster: Cluster) -> Iterator[str]:
    name = new_namespace(k8s_cluster)
    try:
        yield name
    finally:
        delete_namespace(k8s_cluster, name)
