"""The candidate service a gate measures: a URL that is already serving, or the built image run
locally with podman or docker (the exact image that will ship), stopped again when the gate is done."""
from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from ci.errors import CheckFailed, ConfigError
from ci.gates.load import NO_TRACKING_SERVER, free_port
from ci.tools import podman, tail

POLL_S = 0.25
LOG_TAIL_LINES = 25


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - our URL
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def candidate(url: str | None, image: str | None, *, ready_timeout: float = 120.0,
              settings: Mapping[str, str] | None = None, authfile: Path | None = None,
              cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Yield the base URL to measure; with `image`, run it on a free 127.0.0.1 port meanwhile, with
    `settings` (SERVICE_* variables) in its environment."""
    if bool(url) == bool(image):
        raise ConfigError("give exactly one of --url (a running service) or --image (run the built image)")
    if url:
        yield url.rstrip("/")
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = f"gate-{uuid.uuid4().hex[:10]}"
    podman.run_detached(image, name=name, authfile=authfile, cli=cli, env=env, environment={
        **NO_TRACKING_SERVER, **(settings or {}), "SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port)})
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(base):
            if time.monotonic() > deadline or not podman.state(name, cli=cli, env=env).running:
                raise CheckFailed(f"{image} did not become ready on {base} (run `python -m ci gate load` "
                                  f"for the cause)\n{tail(podman.logs(name, cli=cli, env=env), LOG_TAIL_LINES)}")
            time.sleep(POLL_S)
        yield base
    finally:
        podman.remove(name, cli=cli, env=env)
