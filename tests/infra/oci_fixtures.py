"""Fixtures for the OCI registry and the daemonless builder (harness: tests/infra/oci.py).

- `oci_registry`: a running registry that already serves `library/python:3.11-slim` (so a Dockerfile
  `FROM python:3.11-slim` builds unchanged); `.address`, `.env` (give it to buildah/podman/skopeo and
  to `python -m ci build`), `.run(*argv)`, `.registries_conf` (skopeo 1.9 needs it as a flag).
- `oci_auth_registry`: a second registry behind htpasswd; `.address`, `.username`, `.password`.
Both raise InfraError with the log tail when they cannot start: a test that needs them fails.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.oci import BASE_IMAGE_REPO, ContainerTools, OciRegistry, seed_storage


@dataclass
class OciStack:
    registry: OciRegistry
    tools: ContainerTools

    @property
    def address(self) -> str:
        return self.registry.address

    @property
    def env(self) -> dict[str, str]:
        return self.tools.env

    @property
    def registries_conf(self) -> Path:
        return self.tools.registries_conf

    @property
    def base_image(self) -> str:
        return f"{self.address}/{BASE_IMAGE_REPO}"

    def run(self, *argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return self.tools.run(*argv, **kwargs)


@dataclass
class AuthRegistry:
    registry: OciRegistry
    username: str
    password: str

    @property
    def address(self) -> str:
        return self.registry.address


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciStack]:
    root = tmp_path_factory.mktemp("oci")
    seed = seed_storage()
    registry = OciRegistry(root / "registry", seed=seed)
    tools = ContainerTools(root / "tools")
    try:
        registry.start()
        tools.trust(registry.address)
        yield OciStack(registry, tools)
    finally:
        tools.close()
        registry.stop()


@pytest.fixture(scope="session")
def oci_auth_registry(oci_registry: OciStack,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    credentials = ("ci-pusher", "s3cret-for-tests")
    registry = OciRegistry(tmp_path_factory.mktemp("oci-auth") / "registry", credentials=credentials)
    try:
        registry.start()
        oci_registry.tools.trust(registry.address)
        yield AuthRegistry(registry, *credentials)
    finally:
        registry.stop()
