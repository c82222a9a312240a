"""What pip will really install in the image for an `ImageSpec`: the resolved set, without building.

`pip install --dry-run --report` for the image's Python (`--python-version`, CPython, Linux x86_64
manylinux wheels), with exactly the pip settings the image build gets (`build_pip_env`): the job's
PIP_INDEX_URL / PIP_EXTRA_INDEX_URL (the build's secrets) and how to reach them, never the job
machine's pip configuration (its find-links, local indexes or constraints are not in the image).
Preflight compares the model's pins with this set, and a resolution that fails here fails the build
too, with what to do for builds PyPI does not publish (`local_build_hints`: `torch==2.13.0+cpu`).

For another Python than the job's, pip resolves from wheels only (its rule for `--python-version`):
a requirement published only as a source distribution cannot be resolved that way. For the job's own
Python it then resolves again reading source distributions' metadata, as the image build will.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ci.errors import CheckFailed
from ci.image.requirements import ImageSpec
from ci.tools import run_tool, tail

# glibc of the bases (bookworm 2.36, trixie 2.41); pip does not widen a manylinux tag by itself.
MANYLINUX = [f"manylinux_2_{minor}" for minor in (41, 39, 36, 35, 34, 31, 28, 27, 24, 17)] + [
    "manylinux2014", "manylinux2010", "manylinux1"]
RESOLVE_TIMEOUT_S = 600
PIP_NOISE = ("WARNING: Location ",)
MISSING_WHEEL = "No matching distribution"  # pip's words when no file fits (with --only-binary: no wheel)
CUDA_BUILD = re.compile(r"\+cu\d")  # the local version label of a CUDA build: +cu124


JOB_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The job's pip settings the image build gets too: its indexes (ci.image.build.PIP_SECRETS) and how to
# reach them. Every other PIP_* variable, and every pip configuration file, stays out.
BUILD_PIP_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_TRUSTED_HOST",
                       "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "PIP_PROXY")
# Where a project publishes its local builds (`+cpu`, `+cu124`): PyPI refuses local version labels.
LOCAL_BUILD_INDEXES = {name: "https://download.pytorch.org/whl/cpu" for name in ("torch", "torchvision", "torchaudio")}


def build_pip_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment for pip: the job's, less every pip setting the image build would not see."""
    merged = {**os.environ, **(env or {})}
    clean = {k: v for k, v in merged.items() if not k.startswith("PIP_") or k in BUILD_PIP_VARIABLES}
    return {**clean, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def local_builds(spec: ImageSpec) -> list[Requirement]:
    """The image's requirements pinned to a local build (`torch==2.13.0+cpu`)."""
    found = []
    for line in spec.requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if any(spec_.operator in ("==", "===") and "+" in spec_.version for spec_ in req.specifier):
            found.append(req)
    return found


def cuda_builds(spec: ImageSpec) -> list[str]:
    """CUDA builds among the pins: the image serves on CPU nodes."""
    return [str(req) for req in local_builds(spec) if any(CUDA_BUILD.search(s.version) for s in req.specifier)]


def local_build_hints(spec: ImageSpec, pip_says: str) -> str:
    """For each local build pip found no file for: what it is, where it is published, the setting."""
    hints = []
    for req in local_builds(spec):
        label = str(req.specifier).split("+", 1)[1]
        if f"+{label}" not in pip_says or req.name.lower() not in pip_says.lower():
            continue
        index = LOCAL_BUILD_INDEXES.get(canonicalize_name(req.name))
        where = f"{req.name} publishes it on its own index, {index}" if index else "it is published on its own index"
        hints.append(f"\n{req} is a local build (+{label}), which PyPI does not publish: {where}. Name that index, "
                     f"or your company's mirror of it, for {req.name} alone: IMAGE_PACKAGE_INDEXES=\"{req.name}="
                     f"{index or '<index URL>'}\" (or for every package in PIP_EXTRA_INDEX_URL, which the image "
                     "build gets as a secret), or log the model with a requirement PyPI has.")
    return "".join(hints)


def _wheels_only_hint(spec: ImageSpec, pip_says: str) -> str:
    if spec.python == JOB_PYTHON or MISSING_WHEEL not in pip_says:
        return ""
    return (f"\nThis job runs Python {JOB_PYTHON}, so pip resolved for Python {spec.python} from wheels only: a "
            "requirement published only as a source distribution fails here although the image build may "
            f"compile it. Run preflight with Python {spec.python} (the job's image), or publish a wheel.")


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
        pip_env = build_pip_env(env)
        done = run_tool(pip_argv(spec, requirements, report), env=pip_env, inherit_env=False, timeout=timeout,
                        check=False)
        if done.returncode != 0 and spec.python == JOB_PYTHON and MISSING_WHEEL in done.stderr:
            done = run_tool(pip_argv(spec, requirements, report, wheels_only=False), env=pip_env, inherit_env=False,
                            timeout=timeout, check=False)
        if done.returncode != 0 or not report.is_file():
            reason = "\n".join(line[:300] + ("…" if len(line) > 300 else "") for line in done.stderr.splitlines()
                               if not line.startswith(PIP_NOISE))
            hint = local_build_hints(spec, reason) or _wheels_only_hint(spec, reason)
            raise CheckFailed(f"pip cannot resolve the image's requirements for Python {spec.python} "
                              f"(the model's pins, {spec.mlflow}, the service's ranges):\n{tail(reason, 12)}{hint}")
        installs = json.loads(report.read_text()).get("install", [])
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}
