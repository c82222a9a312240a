"""The candidate service a gate measures: a URL that is already serving, or the built image run
locally with podman or docker (the exact image that will ship), stopped again when the gate is done.

The container gets a tracking URI that answers nothing (MLflow fails fast on it), because a pod must
start without the tracking server.
"""
from __future__ import annotations

import contextlib
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from ci.errors import CheckFailed, ConfigError
from ci.tools import podman, tail

POLL_S = 0.25
LOG_TAIL_LINES = 25
NO_TRACKING_SERVER = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                      "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ready_status(base: str) -> int | None:
    """The HTTP status of `base`/readyz, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:  # noqa: S310 - our URL
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def start(image: str, port: int, *, prefix: str, settings: Mapping[str, str] | None = None,
          authfile: Path | None = None, cli: str = podman.DEFAULT_CLI,
          env: Mapping[str, str] | None = None, cpus: float | None = None, memory: int | None = None) -> str:
    """Run `image` detached on 127.0.0.1:`port` with `settings` (SERVICE_* variables) and the pod's CPU
    and memory limits; its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    podman.run_detached(image, name=name, authfile=authfile, cli=cli, env=env, cpus=cpus, memory=memory,
                        environment={**NO_TRACKING_SERVER, **(settings or {}), "SERVICE_HOST": "127.0.0.1",
                                     "SERVICE_PORT": str(port)})
    return name


@contextlib.contextmanager
def candidate(url: str | None, image: str | None, *, ready_timeout: float = 120.0,
              settings: Mapping[str, str] | None = None, authfile: Path | None = None,
              cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Yield the base URL to measure; with `image`, run it on a free 127.0.0.1 port meanwhile."""
    if bool(url) == bool(image):
        raise ConfigError("give exactly one of --url (a running service) or --image (run the built image)")
    if url:
        yield url.rstrip("/")
        return
    with running(image, ready_timeout=ready_timeout, settings=settings, authfile=authfile, cli=cli,
                 env=env) as (base, _name):
        yield base


@contextlib.contextmanager
def running(image: str, *, ready_timeout: float = 120.0, settings: Mapping[str, str] | None = None,
            authfile: Path | None = None, cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None,
            cpus: float | None = None, memory: int | None = None) -> Iterator[tuple[str, str]]:
    """Run `image` on a free 127.0.0.1 port until it is ready; yield its base URL and container name;
    remove it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = start(image, port, prefix="gate", settings=settings, authfile=authfile, cli=cli, env=env, cpus=cpus,
                 memory=memory)
    try:
        deadline = time.monotonic() + ready_timeout
        while ready_status(base) != 200:
            if time.monotonic() > deadline or not podman.state(name, cli=cli, env=env).running:
                raise CheckFailed(f"{image} did not become ready on {base} (run `python -m ci gate load` "
                                  f"for the cause)\n{tail(podman.logs(name, cli=cli, env=env), LOG_TAIL_LINES)}")
            time.sleep(POLL_S)
        yield base, name
    finally:
        podman.remove(name, cli=cli, env=env)
