"""podman: run the exact image that will ship (the load gate), without a Docker engine."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.tools import run_tool


@dataclass(frozen=True)
class ContainerState:
    status: str  # created, running, exited, ...
    exit_code: int
    oom_killed: bool

    @property
    def running(self) -> bool:
        return self.status == "running"


def run_detached(image: str, *, name: str, environment: Mapping[str, str] | None = None,
                 read_only: bool = True, tmpfs: Sequence[str] = ("/tmp",),  # noqa: S108 - in the container
                 user: str | None = None, authfile: Path | None = None,
                 env: Mapping[str, str] | None = None) -> str:
    """Start `image` in the background on the host network, shaped like the production pod
    (read-only root, writable /tmp only); return the container id. Values of `environment` are
    passed through podman's own environment, so they never appear on its argv."""
    argv = ["podman", "run", "--detach", "--name", name, "--network", "host", "--pull", "missing"]
    if read_only:
        argv.append("--read-only")
    for path in tmpfs:
        argv += ["--tmpfs", path]
    if user is not None:
        argv += ["--user", user]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    for key in environment or {}:
        argv += ["--env", key]
    result = run_tool([*argv, image], env={**(env or {}), **(environment or {})}, timeout=600)
    return result.stdout.strip()


def run_once(image: str, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    """Run `command` in a throw-away container of `image` (whatever its ENTRYPOINT); return stdout."""
    argv = ["podman", "run", "--rm", "--network", "host", "--entrypoint", command[0], image, *command[1:]]
    result = run_tool(argv, env=env, timeout=300)
    return result.stdout


def state(name: str, *, env: Mapping[str, str] | None = None) -> ContainerState:
    result = run_tool(["podman", "inspect", "--type", "container", name], env=env)
    info = json.loads(result.stdout)[0]["State"]
    return ContainerState(status=info["Status"], exit_code=int(info.get("ExitCode", 0)),
                          oom_killed=bool(info.get("OOMKilled", False)))


def logs(name: str, *, env: Mapping[str, str] | None = None) -> str:
    result = run_tool(["podman", "logs", name], env=env, check=False)
    return result.stdout + result.stderr


def remove(name: str, *, env: Mapping[str, str] | None = None) -> None:
    run_tool(["podman", "rm", "--force", "--time", "5", name], env=env, check=False)


def image_size(image: str, *, env: Mapping[str, str] | None = None) -> int:
    """Unpacked size in bytes of a local image."""
    result = run_tool(["podman", "image", "inspect", "--format", "{{.Size}}", image], env=env)
    return int(result.stdout.strip())
