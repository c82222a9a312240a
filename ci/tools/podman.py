"""podman (daemonless, the default) or the docker CLI: run the exact image that will ship (the load gate).

The docker CLI takes the same run/inspect/logs/rm flags used here, so one seam serves both: `cli` names
the program. Only auth and `rm --time` differ: docker reads registry auth from DOCKER_CONFIG and
stops a container at once on `rm --force`."""
from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ConfigError
from ci.tools import docker, run_tool

CLIS = ("podman", "docker")
DEFAULT_CLI = "podman"
# Where containers are started from: podman's conmon (before 2.1.13) creates a file `oom` in its working
# directory when the container is OOM-killed, which would land in the job's checkout.
RUN_FROM = tempfile.gettempdir()


@dataclass(frozen=True)
class ContainerState:
    status: str  # created, running, exited, ...
    exit_code: int
    oom_killed: bool

    @property
    def running(self) -> bool:
        return self.status == "running"


def _checked(cli: str) -> str:
    if cli not in CLIS:
        raise ConfigError(f"unknown container CLI {cli!r}: choose one of {', '.join(CLIS)}")
    return cli


@contextlib.contextmanager
def _auth(cli: str, authfile: Path | None) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Extra argv and environment that hand `authfile` to the CLI."""
    if cli == "podman" or authfile is None:
        yield ([] if authfile is None else ["--authfile", str(authfile)]), {}
    else:
        with docker.config_env(authfile) as env:
            yield [], env


def run_detached(image: str, *, name: str, environment: Mapping[str, str] | None = None,
                 read_only: bool = True, tmpfs: Sequence[str] = ("/tmp",),  # noqa: S108 - in the container
                 user: str | None = None, authfile: Path | None = None, cli: str = DEFAULT_CLI,
                 env: Mapping[str, str] | None = None, cpus: float | None = None,
                 memory: int | None = None) -> str:
    """Start `image` in the background on the host network, shaped like the production pod
    (read-only root, writable /tmp only; `cpus` and `memory` bytes: the pod's limits); return the
    container id. Values of `environment` are passed through the CLI's own environment, so they never
    appear on its argv."""
    argv = [_checked(cli), "run", "--detach", "--name", name, "--network", "host", "--pull", "missing"]
    if read_only:
        argv.append("--read-only")
    for path in tmpfs:
        argv += ["--tmpfs", path]
    if user is not None:
        argv += ["--user", user]
    if cpus is not None:
        argv += ["--cpus", f"{cpus:g}"]
    if memory is not None:
        argv += ["--memory", str(memory)]
    for key in environment or {}:
        argv += ["--env", key]
    with _auth(cli, authfile) as (auth_argv, auth_env):
        result = run_tool([*argv, *auth_argv, image], env={**(env or {}), **auth_env, **(environment or {})},
                          timeout=600, cwd=RUN_FROM)
    return result.stdout.strip()


def run_once(image: str, command: Sequence[str], *, cli: str = DEFAULT_CLI,
             env: Mapping[str, str] | None = None, isolated: bool = False,
             environment: Mapping[str, str] | None = None) -> str:
    """Run `command` in a throw-away container of `image` (whatever its ENTRYPOINT); return stdout.
    `isolated`: no network, read-only root with a writable /tmp (shaped like the pod, reaching nothing)."""
    argv = [_checked(cli), "run", "--rm", "--network", "none" if isolated else "host"]
    if isolated:
        argv += ["--read-only", "--tmpfs", "/tmp"]  # noqa: S108 - in the container
    for key in environment or {}:
        argv += ["--env", key]
    argv += ["--entrypoint", command[0], image, *command[1:]]
    result = run_tool(argv, env={**(env or {}), **(environment or {})}, timeout=300, cwd=RUN_FROM)
    return result.stdout


def state(name: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> ContainerState:
    result = run_tool([_checked(cli), "inspect", "--type", "container", name], env=env)
    info = json.loads(result.stdout)[0]["State"]
    return ContainerState(status=info["Status"], exit_code=int(info.get("ExitCode", 0)),
                          oom_killed=bool(info.get("OOMKilled", False)))


def cpu_seconds(name: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> float:
    """CPU seconds the container has used since it started (podman's cgroup reading; the docker CLI's
    `stats` has only a momentary percentage)."""
    if _checked(cli) != "podman":
        raise ConfigError("the capacity search reads a container's CPU time with podman: use --container-cli podman")
    result = run_tool([cli, "stats", "--no-stream", "--format", "{{.CPUNano}}", name], env=env, timeout=60)
    return int(result.stdout.strip()) / 1e9


# The container's own cgroup, v2 or v1: its memory in use and its inactive page cache.
MEMORY_READING = ("cat /sys/fs/cgroup/memory.current 2>/dev/null || cat /sys/fs/cgroup/memory/memory.usage_in_bytes; "
                  "cat /sys/fs/cgroup/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory/memory.stat")


def working_set(name: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> int:
    """Bytes of memory the running container holds as the kubelet counts it against the pod's limit
    (its working set: usage less the inactive page cache, which the kernel reclaims before an OOM kill)."""
    result = run_tool([_checked(cli), "exec", name, "sh", "-c", MEMORY_READING], env=env, timeout=60)
    lines = result.stdout.split("\n")
    stat = dict(line.split()[:2] for line in lines[1:] if len(line.split()) == 2)
    inactive = int(stat.get("inactive_file", stat.get("total_inactive_file", 0)))
    return max(0, int(lines[0]) - inactive)


def logs(name: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> str:
    result = run_tool([_checked(cli), "logs", name], env=env, check=False)
    return result.stdout + result.stderr


def remove(name: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> None:
    grace = ["--time", "5"] if cli == "podman" else []
    run_tool([_checked(cli), "rm", "--force", *grace, name], env=env, check=False)


def image_size(image: str, *, cli: str = DEFAULT_CLI, env: Mapping[str, str] | None = None) -> int:
    """Unpacked size in bytes of a local image."""
    result = run_tool([_checked(cli), "image", "inspect", "--format", "{{.Size}}", image], env=env)
    return int(result.stdout.strip())
