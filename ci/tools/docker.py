"""docker CLI: the builder (and container runner) on runners that have a Docker engine, or podman's
docker-compatible API (`podman system service` with DOCKER_HOST).

Registry auth reaches the CLI as a docker config directory (DOCKER_CONFIG), never on argv. The pushed
digest is read from `docker push`'s own `digest:` line: podman's API reports a local digest in
`RepoDigests` that differs from the manifest the registry stored."""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ci.errors import ToolError
from ci.tools import run_tool, tail

CONFIG_NAME = "config.json"
DIGEST_LINE = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@contextlib.contextmanager
def config_env(authfile: Path | None) -> Iterator[dict[str, str]]:
    """DOCKER_CONFIG naming a directory that holds `authfile` as config.json (what docker and kaniko
    read); {} keeps the caller's own DOCKER_CONFIG or ~/.docker."""
    if authfile is None:
        yield {}
    elif authfile.name == CONFIG_NAME:
        yield {"DOCKER_CONFIG": str(authfile.parent)}
    else:
        with tempfile.TemporaryDirectory(prefix="docker-config-") as tmp:
            shutil.copyfile(authfile, Path(tmp) / CONFIG_NAME)
            yield {"DOCKER_CONFIG": tmp}


def build(context: Path, *, dockerfile: Path, tags: Sequence[str], build_args: Mapping[str, str] | None = None,
          authfile: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """`docker build` the context; the first tag names the image, the others are extra local tags."""
    argv = ["docker", "build", "--file", str(dockerfile)]
    for tag in tags:
        argv += ["--tag", tag]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    with config_env(authfile) as auth:
        run_tool([*argv, str(context)], env={**(env or {}), **auth})


def push(image: str, *, authfile: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """`docker push` and return the manifest digest the registry stored (from the push output)."""
    with config_env(authfile) as auth:
        result = run_tool(["docker", "push", image], env={**(env or {}), **auth})
    digests = DIGEST_LINE.findall(result.stdout + result.stderr)
    if not digests:
        raise ToolError(f"`docker push {image}` printed no `digest: sha256:...` line:\n{tail(result.stdout)}")
    return digests[-1]


def build_and_push(context: Path, *, dockerfile: Path, image: str, build_args: Mapping[str, str] | None = None,
                   authfile: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """The builder seam `ci.image.build` calls: build `image`, push it, return the registry's digest."""
    build(context, dockerfile=dockerfile, tags=[image], build_args=build_args, authfile=authfile, env=env)
    return push(image, authfile=authfile, env=env)
