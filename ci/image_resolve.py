"""What pip will really install in the image for an `ImageSpec`: the resolved set, without building.

`pip install --dry-run --report` for the image's Python (`--python-version`, CPython, Linux x86_64
manylinux wheels), with the job's own pip settings, so PIP_INDEX_URL / PIP_EXTRA_INDEX_URL reach it
as they reach the image build. Preflight compares the model's pins with this set, and a resolution
that fails here (`ResolutionImpossible`) fails the build too.

For another Python than the job's, pip resolves from wheels only (its rule for `--python-version`):
a requirement published only as a source distribution cannot be resolved that way. For the job's own
Python it then resolves again reading source distributions' metadata, as the image build will.
"""
from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from ci.errors import CheckFailed
from ci.image_requirements import ImageSpec
from ci.tools import run_tool, tail

# glibc of the bases (bookworm 2.36, trixie 2.41); pip does not widen a manylinux tag by itself.
MANYLINUX = [f"manylinux_2_{minor}" for minor in (41, 39, 36, 35, 34, 31, 28, 27, 24, 17)] + [
    "manylinux2014", "manylinux2010", "manylinux1"]
RESOLVE_TIMEOUT_S = 600
PIP_NOISE = ("WARNING: Location ",)
MISSING_WHEEL = "No matching distribution"  # pip's words when no file fits (with --only-binary: no wheel)


JOB_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def pip_argv(spec: ImageSpec, requirements: Path, report: Path, *, wheels_only: bool = True) -> list[str]:
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--disable-pip-version-check", "--report", str(report)]
    if wheels_only:
        argv += ["--python-version", spec.python, "--implementation", "cp", "--only-binary=:all:"]
        for platform in MANYLINUX:
            argv += ["--platform", f"{platform}_x86_64"]
    return [*argv, "-r", str(requirements)]


def resolved_pins(spec: ImageSpec, *, env: Mapping[str, str] | None = None,
                  timeout: float = RESOLVE_TIMEOUT_S) -> dict[str, str]:
    """name -> version pip resolves for the image; CheckFailed with pip's reason when it cannot."""
    with tempfile.TemporaryDirectory(prefix="image-resolve-") as tmp:
        requirements, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        requirements.write_text(spec.requirements_text())
        done = run_tool(pip_argv(spec, requirements, report), env=env, timeout=timeout, check=False)
        if done.returncode != 0 and spec.python == JOB_PYTHON and MISSING_WHEEL in done.stderr:
            done = run_tool(pip_argv(spec, requirements, report, wheels_only=False), env=env, timeout=timeout,
                            check=False)
        if done.returncode != 0 or not report.is_file():
            reason = "\n".join(line[:300] + ("…" if len(line) > 300 else "") for line in done.stderr.splitlines()
                               if not line.startswith(PIP_NOISE))
            hint = "" if spec.python == JOB_PYTHON or MISSING_WHEEL not in reason else (
                f"\nThis job runs Python {JOB_PYTHON}, so pip resolved for Python {spec.python} from wheels only: a "
                "requirement published only as a source distribution fails here although the image build may "
                f"compile it. Run preflight with Python {spec.python} (the job's image), or publish a wheel.")
            raise CheckFailed(f"pip cannot resolve the image's requirements for Python {spec.python} "
                              f"(the model's pins, {spec.mlflow}, the service's ranges):\n{tail(reason, 12)}{hint}")
        installs = json.loads(report.read_text()).get("install", [])
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}
