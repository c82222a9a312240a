"""One seam per external program (buildah, podman, skopeo, ...): each module builds the argv and runs
it through `run_tool`, so tests run the real program and every failure is a `ToolError` whose
message carries the tool's own last words. Secrets never go on an argv (they would show in `ps`)."""
from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

from ci.errors import ToolError
from ci.tracing import step

log = logging.getLogger("ci.tools")

STDERR_TAIL_LINES = 20


def run_tool(argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 1800,
             input_text: str | None = None, check: bool = True,
             inherit_env: bool = True, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `argv` (in `cwd`) with `env` added to the environment (or as the whole environment, without
    `inherit_env`); raise ToolError on a non-zero exit if `check`."""
    argv = [str(arg) for arg in argv]
    log.debug("run: %s", " ".join(argv))
    with step(" ".join(argv[:2]), **{"process.executable.name": argv[0]}) as span:
        result = _run(argv, {**(os.environ if inherit_env else {}), **(env or {})}, timeout, input_text, cwd)
        span.set_attribute("process.exit.code", result.returncode)
    if check and result.returncode != 0:
        raise ToolError(f"`{argv[0]} {argv[1]}` failed (exit {result.returncode}):\n{tail(result.stderr)}")
    return result


def _run(argv: list[str], env: Mapping[str, str], timeout: float, input_text: str | None,
         cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=dict(env), capture_output=True,
                                text=True, timeout=timeout, input=input_text, check=False, cwd=cwd)
    except FileNotFoundError as exc:
        raise ToolError(f"`{argv[0]}` is not installed on this runner: install it or choose another "
                        "tool with the command's options") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"`{argv[0]} {argv[1]}` did not finish within {timeout:.0f}s") from exc


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
