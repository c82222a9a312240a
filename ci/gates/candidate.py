"""The candidate service a gate measures: a URL that is already serving, or the built image run
locally with podman or docker (the exact image that will ship), stopped again when the gate is done.

The container gets a tracking URI that answers nothing (MLflow fails fast on it), because a pod must
start without the tracking server. A free port can be taken by another process between the choice and
the container's bind (gates run side by side): the container is named in SERVICE_INSTANCE, and a
service answering there under another name means the port was taken, so the gate tries another port
rather than measure someone else's model.
"""
from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from ci.errors import CheckFailed, ConfigError
from ci.tools import podman, tail

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_S = 0.25
# Each `podman inspect` costs ~0.2 s of CPU: asked at every poll of /readyz, a gate's wait spent more CPU
# asking whether the container still ran than the model spent loading. A container that exits is named
# at most this much later.
STATE_EVERY_S = 2.0
PORT_ATTEMPTS = 3
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


BIND_REFUSED = "Connection in use"  # what Gunicorn logs, retrying, when its port is taken


class PortTaken(Exception):
    """Another service answers on the port chosen for the candidate."""


def check_bound(logs: str, base: str) -> None:
    """PortTaken when the stopped container's `logs` say its port was taken."""
    if BIND_REFUSED in logs:
        raise PortTaken(base)


def answering(base: str, name: str) -> int | None:
    """`ready_status(base)` of container `name`; PortTaken when the ready service there is another one
    (an image from before /version named its instance is taken for the container)."""
    status = ready_status(base)
    if status == 200:
        try:
            with urllib.request.urlopen(f"{base}/version", timeout=2) as response:  # noqa: S310 - our URL
                instance = json.loads(response.read()).get("instance")
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, AttributeError):
            return None
        if instance not in (None, name):
            raise PortTaken(base)
    return status


class ExitWatch:
    """Called while waiting for a container: its state once it no longer runs, else None; the CLI is
    asked at most every STATE_EVERY_S."""

    def __init__(self, name: str, cli: str, env: Mapping[str, str] | None) -> None:
        self.name, self.cli, self.env = name, cli, env
        self.next_look = 0.0

    def __call__(self) -> podman.ContainerState | None:
        now = time.monotonic()
        if now < self.next_look:
            return None
        self.next_look = now + STATE_EVERY_S
        state = podman.state(self.name, cli=self.cli, env=self.env)
        return None if state.running else state


def start(image: str, port: int, *, prefix: str, settings: Mapping[str, str] | None = None,
          authfile: Path | None = None, cli: str = podman.DEFAULT_CLI,
          env: Mapping[str, str] | None = None, cpus: float | None = None, memory: int | None = None) -> str:
    """Run `image` detached on 127.0.0.1:`port` with `settings` (SERVICE_* variables) and the pod's CPU
    and memory limits; its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    podman.run_detached(image, name=name, authfile=authfile, cli=cli, env=env, cpus=cpus, memory=memory,
                        environment={**NO_TRACKING_SERVER, **(settings or {}), "SERVICE_HOST": "127.0.0.1",
                                     "SERVICE_PORT": str(port), "SERVICE_INSTANCE": name})
    return name


@contextlib.contextmanager
def on_free_port(image: str, wait: Callable[[str, str], T], *, prefix: str, cli: str = podman.DEFAULT_CLI,
                 env: Mapping[str, str] | None = None, **run) -> Iterator[tuple[str, str, T]]:
    """`start` the image on a free port and `wait(base, name)` for it (which raises PortTaken, through
    `answering`, when another service holds the port: then another port); yield the base URL, the
    container's name and what `wait` returned; remove the container afterwards."""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        name = start(image, port, prefix=prefix, cli=cli, env=env, **run)
        try:
            try:
                waited = wait(base, name)
            except PortTaken:
                log.warning("port %d was taken by another service before %s could bind it: trying another", port,
                            name)
                continue
            yield base, name, waited
            return
        finally:
            podman.remove(name, cli=cli, env=env)
    raise CheckFailed(f"{image} could not be started: the {PORT_ATTEMPTS} free ports chosen for it were each "
                      "taken by another service before it bound them (a busy machine: run the gate again)")


@contextlib.contextmanager
def candidate(url: str | None, image: str | None, *, ready_timeout: float = 120.0,
              settings: Mapping[str, str] | None = None, authfile: Path | None = None,
              cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None
              ) -> Iterator[tuple[str, Callable[[], str]]]:
    """Yield the base URL to measure and what tells the candidate's last log lines (nothing for a
    `url`: its logs are elsewhere); with `image`, run it on a free 127.0.0.1 port meanwhile."""
    if bool(url) == bool(image):
        raise ConfigError("give exactly one of --url (a running service) or --image (run the built image)")
    if url:
        yield url.rstrip("/"), lambda: ""
        return
    with running(image, ready_timeout=ready_timeout, settings=settings, authfile=authfile, cli=cli,
                 env=env) as (base, name):
        yield base, lambda: tail(podman.logs(name, cli=cli, env=env), LOG_TAIL_LINES)


@contextlib.contextmanager
def running(image: str, *, ready_timeout: float = 120.0, settings: Mapping[str, str] | None = None,
            authfile: Path | None = None, cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None,
            cpus: float | None = None, memory: int | None = None) -> Iterator[tuple[str, str]]:
    """Run `image` on a free 127.0.0.1 port until it is ready; yield its base URL and container name;
    remove it afterwards."""
    def ready(base: str, name: str) -> None:
        deadline = time.monotonic() + ready_timeout
        exited = ExitWatch(name, cli, env)
        while answering(base, name) != 200:
            if time.monotonic() > deadline or exited() is not None:
                logs = podman.logs(name, cli=cli, env=env)
                check_bound(logs, base)
                raise CheckFailed(f"{image} did not become ready on {base} (run `python -m ci gate load` "
                                  f"for the cause)\n{tail(logs, LOG_TAIL_LINES)}")
            time.sleep(POLL_S)

    with on_free_port(image, ready, prefix="gate", settings=settings, authfile=authfile, cli=cli, env=env,
                      cpus=cpus, memory=memory) as (base, name, _):
        yield base, name
