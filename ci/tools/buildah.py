"""buildah: the default, daemonless builder (no Docker engine, no privileged daemon on the runner)."""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci.errors import ConfigError
from ci.tools import run_tool

log = logging.getLogger("ci.tools.buildah")


def build(context: Path, *, dockerfile: Path, tags: Sequence[str], build_args: Mapping[str, str] | None = None,
          authfile: Path | None = None, layers: bool = True, env: Mapping[str, str] | None = None,
          secrets: Mapping[str, str] | None = None) -> None:
    """`buildah bud` the context; the first tag names the image, the others are extra local tags.
    `secrets` maps a secret id (`RUN --mount=type=secret,id=…`) to the environment variable holding
    it: only the variable's name is on the command line, and nothing of it is kept in a layer."""
    argv = ["buildah", "bud", "--file", str(dockerfile), "--layers=" + str(layers).lower()]
    for secret_id, variable in (secrets or {}).items():
        argv += ["--secret", f"id={secret_id},env={variable}"]
    for tag in tags:
        argv += ["--tag", tag]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    done = run_tool([*argv, str(context)], env=env)
    log.debug("buildah bud output:\n%s", done.stdout[-20000:])


# IMAGE_PUSH_COMPRESSION: gzip (the default, what every registry and runtime reads) or none, for a registry
# next to the builder where compressing every layer costs more CPU than the bytes it saves (the tests').
PUSH_COMPRESSION = {"gzip": [], "none": ["--disable-compression"]}


def push(image: str, *, authfile: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Push `image` and return the manifest digest the registry stored (it cannot be predicted)."""
    compression = {**os.environ, **(env or {})}.get("IMAGE_PUSH_COMPRESSION") or "gzip"
    if compression not in PUSH_COMPRESSION:
        raise ConfigError(f"IMAGE_PUSH_COMPRESSION={compression!r}: choose one of {', '.join(PUSH_COMPRESSION)}")
    with tempfile.TemporaryDirectory(prefix="buildah-push-") as tmp:
        digestfile = Path(tmp) / "digest"
        argv = ["buildah", "push", "--digestfile", str(digestfile), *PUSH_COMPRESSION[compression]]
        if authfile is not None:
            argv += ["--authfile", str(authfile)]
        run_tool([*argv, image], env=env)
        return digestfile.read_text().strip()


def build_and_push(context: Path, *, dockerfile: Path, image: str, build_args: Mapping[str, str] | None = None,
                   authfile: Path | None = None, env: Mapping[str, str] | None = None,
                   secrets: Mapping[str, str] | None = None) -> str:
    """The builder seam `ci.image.build` calls: build `image`, push it, return the registry's digest."""
    build(context, dockerfile=dockerfile, tags=[image], build_args=build_args, authfile=authfile, env=env,
          secrets=secrets)
    return push(image, authfile=authfile, env=env)
