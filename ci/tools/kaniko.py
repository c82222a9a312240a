"""kaniko: the builder for runners that allow neither a daemon nor buildah's user namespaces; it runs
inside its own image (gcr.io/kaniko-project/executor) and builds and pushes in one step.

So `build` already pushes every tag and keeps the digest kaniko wrote; `push` only hands it back,
which keeps the two-step shape the other builders have. Auth is read from $DOCKER_CONFIG/config.json.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci.errors import ToolError
from ci.tools import run_tool
from ci.tools.docker import config_env

EXECUTOR_VARIABLE = "KANIKO_EXECUTOR"
DEFAULT_EXECUTOR = "/kaniko/executor"

_pushed: dict[str, str] = {}  # tag -> digest of what `build` pushed


def executor(env: Mapping[str, str] | None = None) -> str:
    return {**os.environ, **(env or {})}.get(EXECUTOR_VARIABLE) or DEFAULT_EXECUTOR


def build(context: Path, *, dockerfile: Path, tags: Sequence[str], build_args: Mapping[str, str] | None = None,
          authfile: Path | None = None, env: Mapping[str, str] | None = None) -> None:
    """Build the context and push it to every tag; remember the digest kaniko wrote."""
    with tempfile.TemporaryDirectory(prefix="kaniko-") as tmp, config_env(authfile) as auth:
        digestfile = Path(tmp) / "digest"
        argv = [executor(env), "--context", str(context), "--dockerfile", str(dockerfile)]
        for tag in tags:
            argv += ["--destination", tag]
        for key, value in (build_args or {}).items():
            argv += ["--build-arg", f"{key}={value}"]
        run_tool([*argv, "--digest-file", str(digestfile)], env={**(env or {}), **auth})
        digest = digestfile.read_text().strip() if digestfile.is_file() else ""
    if not digest.startswith("sha256:"):
        raise ToolError(f"kaniko pushed {tags[0]} but wrote no digest to --digest-file (got {digest!r})")
    _pushed.update(dict.fromkeys(tags, digest))


def push(image: str, *, authfile: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """The digest `build` pushed `image` with (kaniko has no separate push)."""
    del authfile, env  # same signature as the other builders; kaniko pushed in `build`
    if image not in _pushed:
        raise ToolError(f"kaniko pushes while it builds, and {image} was not built by kaniko in this run")
    return _pushed.pop(image)
