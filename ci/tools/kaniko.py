"""kaniko: the builder for runners that allow neither a daemon nor buildah's user namespaces; it runs
inside its own image (gcr.io/kaniko-project/executor) and builds and pushes in one step.

So its seam is the one step, `build_and_push`, returning the digest kaniko wrote. Auth is read from
$DOCKER_CONFIG/config.json.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ci.errors import ToolError
from ci.tools import run_tool
from ci.tools.docker import config_env

EXECUTOR_VARIABLE = "KANIKO_EXECUTOR"
DEFAULT_EXECUTOR = "/kaniko/executor"

def executor(env: Mapping[str, str] | None = None) -> str:
    return {**os.environ, **(env or {})}.get(EXECUTOR_VARIABLE) or DEFAULT_EXECUTOR


def build_and_push(context: Path, *, dockerfile: Path, image: str, build_args: Mapping[str, str] | None = None,
                   authfile: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Build the context, push it as `image` and return the digest kaniko wrote."""
    with tempfile.TemporaryDirectory(prefix="kaniko-") as tmp, config_env(authfile) as auth:
        digestfile = Path(tmp) / "digest"
        argv = [executor(env), "--context", str(context), "--dockerfile", str(dockerfile), "--destination", image]
        for key, value in (build_args or {}).items():
            argv += ["--build-arg", f"{key}={value}"]
        run_tool([*argv, "--digest-file", str(digestfile)], env={**(env or {}), **auth})
        digest = digestfile.read_text().strip() if digestfile.is_file() else ""
    if not digest.startswith("sha256:"):
        raise ToolError(f"kaniko pushed {image} but wrote no digest to --digest-file (got {digest!r})")
    return digest
