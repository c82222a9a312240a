"""skopeo: look at and copy images in a registry without pulling them (retag without a rebuild).

skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF, so the file it names is passed as a flag: a registry
marked `insecure` there is reached over plain HTTP by every tool alike."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ci.errors import ToolError
from ci.tools import run_tool, tail

MISSING_MARKERS = ("manifest unknown", "not found", "name unknown")
# A registry that does not answer, or answers 5xx/429, is tried again by skopeo itself, with backoff.
RETRIES = ["--retry-times", "3"]


def _base(env: Mapping[str, str] | None) -> list[str]:
    conf = {**os.environ, **(env or {})}.get("CONTAINERS_REGISTRIES_CONF")
    return ["skopeo", "--registries-conf", conf] if conf else ["skopeo"]


def inspect(image: str, *, authfile: Path | None = None, env: Mapping[str, str] | None = None) -> dict | None:
    """The image's `skopeo inspect` JSON (with `Digest`), or None when the registry has no such tag."""
    argv = [*_base(env), "inspect", *RETRIES]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    result = run_tool([*argv, f"docker://{image}"], env=env, check=False)
    if result.returncode == 0:
        return json.loads(result.stdout)
    if any(marker in result.stderr.lower() for marker in MISSING_MARKERS):
        return None
    raise ToolError(f"`skopeo inspect {image}` failed (exit {result.returncode}):\n{tail(result.stderr)}")


def copy(source: str, destination: str, *, authfile: Path | None = None,
         env: Mapping[str, str] | None = None) -> None:
    """Copy `source` to `destination` (both `registry/repo:tag`); within one registry, a new tag."""
    argv = [*_base(env), "copy", "--quiet", *RETRIES]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    run_tool([*argv, f"docker://{source}", f"docker://{destination}"], env=env)
