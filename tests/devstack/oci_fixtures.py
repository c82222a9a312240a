"""Fixtures for the OCI registry and the daemonless builder (harness: devstack/oci.py).

- `oci_registry`: a running registry that already serves `library/python:3.11-slim` (so a Dockerfile
  `FROM python:3.11-slim` builds unchanged); `.address`, `.env` (give it to buildah/podman/skopeo and
  to `python -m ci build`), `.run(*argv)`, `.registries_conf` (skopeo 1.9 needs it as a flag).
- `oci_auth_registry`: a second registry behind htpasswd; `.address`, `.username`, `.password`.
- `pipeline_image`: the pipeline image in `oci_registry` (built once per inputs hash, cached:
  devstack/pipeline_image.py); its `repository:inputs-<hash>` reference.
- `docker_api`: `podman system service` on a private unix socket with the same storage, so the docker
  CLI builds, pushes and runs (there is no Docker engine here) against both registries; `.env` adds
  DOCKER_HOST and a private DOCKER_CONFIG to `oci_registry.env`.
Both raise InfraError with the log tail when they cannot start: a test that needs them fails.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.oci import BASE_IMAGE_REPO, ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry
from devstack.procs import InfraError, ManagedProcess, wait_until

DOCKER_CLI_MISSING = (
    "the docker CLI is not installed (`command -v docker` finds nothing): run `bash devstack/bootstrap.sh "
    "test` (it installs Debian's docker.io when no docker CLI is on PATH; its daemon is never started). The "
    "tests run the client against podman's API.")


@dataclass
class OciStack:
    registry: OciRegistry
    tools: ContainerTools

    @property
    def address(self) -> str:
        return self.registry.address

    @property
    def env(self) -> dict[str, str]:
        """The tools' environment; pushes to this registry on the same machine are uncompressed
        (IMAGE_PUSH_COMPRESSION=none): gzip of every new layer was the suite's largest CPU cost."""
        return {**self.tools.env, "IMAGE_PUSH_COMPRESSION": "none"}

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
    tools = ContainerTools.with_layer_cache(root / "tools")
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


@dataclass
class DockerApi:
    socket_path: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def pipeline_image(oci_registry: OciStack) -> str:
    from devstack import pipeline_image as cache

    return cache.ensure(oci_registry.address, oci_registry.tools)[0]


def _pings(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(str(path))
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        status_line = sock.recv(64).split(b"\r\n")[0]
        return b" 200 " in status_line


@pytest.fixture(scope="session")
def docker_api(oci_registry: OciStack, oci_auth_registry: AuthRegistry,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerApi]:
    """The service reads registries.conf once: every registry must be trusted before it starts."""
    if shutil.which("docker") is None:
        raise InfraError(DOCKER_CLI_MISSING)
    root = tmp_path_factory.mktemp("docker-api")
    sock = root / "podman.sock"
    (root / "config").mkdir()
    (root / "config" / "config.json").write_text("{}")
    service = ManagedProcess(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                             log=root / "service.log", env=oci_registry.env)
    try:
        wait_until(lambda: service.alive() and _pings(sock), 30, f"podman system service on {sock}",
                   log=service.log)
        yield DockerApi(sock, {**oci_registry.env, "DOCKER_HOST": f"unix://{sock}",
                               "DOCKER_CONFIG": str(root / "config")})
    finally:
        service.stop()
