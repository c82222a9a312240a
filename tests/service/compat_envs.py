"""Virtualenvs for other Python x MLflow combinations, created once per spec and cached.

Each env is `<interpreter> -m venv` plus ONE pip install of the service's ranges
(service/requirements.in), the MLflow of the combination and the test's own packages, under
~/.cache/pyfunc-deploy/compat-envs/<hash of the spec>/. The interpreters are the machine's pyenv
builds; a missing one is an error naming what to install, never a skip.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RANGES = REPO / "service" / "requirements.in"
CACHE = Path(os.environ.get("PYFUNC_DEPLOY_CACHE", Path.home() / ".cache" / "pyfunc-deploy")) / "compat-envs"
INSTALL_TIMEOUT = 1200


class CompatEnvError(RuntimeError):
    """An env cannot be made: the message says what to install or what pip said."""


@dataclass(frozen=True)
class EnvSpec:
    """One combination: a Python minor version and the packages installed next to the service."""

    name: str
    python: str  # "3.9"
    mlflow: str  # a requirement, e.g. "mlflow-skinny>=2.10,<2.11"
    extras: tuple[str, ...] = ()

    def requirements(self) -> list[str]:
        return [self.mlflow, *self.extras, "pytest"]


# The oldest and the newest MLflow the service supports, each on a Python it supports. The oldest
# carries the model stack of the widely followed production guide (issue 14).
OLDEST = EnvSpec("oldest", "3.9", "mlflow-skinny>=2.10,<2.11",
                 ("numpy==1.24.3", "pandas==2.0.3", "scikit-learn==1.3.2"))
NEWEST = EnvSpec("newest", "3.13", "mlflow-skinny>=3,<4", ("scikit-learn",))
EXTRA_VARIABLE = "PYFUNC_COMPAT_EXTRA"


def specs() -> list[EnvSpec]:
    """OLDEST and NEWEST, plus the combinations named in $PYFUNC_COMPAT_EXTRA, `;`-separated
    `python:mlflow requirement`, e.g. `3.10:mlflow-skinny>=2.16,<2.17;3.12:mlflow==3.18.0`."""
    extra = []
    for entry in filter(None, (part.strip() for part in os.environ.get(EXTRA_VARIABLE, "").split(";"))):
        python, _, mlflow = entry.partition(":")
        if not mlflow:
            raise CompatEnvError(f"{EXTRA_VARIABLE} entry {entry!r} is not `python:mlflow requirement`")
        extra.append(EnvSpec(f"extra{len(extra) + 1}", python.strip(), mlflow.strip(), ("scikit-learn",)))
    return [OLDEST, NEWEST, *extra]


def _candidates(minor: str) -> list[Path]:
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    roots += [Path.home() / ".pyenv", Path("/root/.pyenv")]
    found = []
    for root in roots:
        versions = root / "versions"
        if versions.is_dir():
            found += sorted(versions.glob(f"{minor}.*/bin/python{minor}"), reverse=True)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        found.append(Path(on_path))
    return found


def _probe(python: Path, minor: str) -> str | None:
    """The interpreter's full version if it is `minor` and can make venvs with ssl, else None."""
    code = "import sys, ssl, venv, sqlite3; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and version.rsplit(".", 1)[0] == minor else None


def find_python(minor: str) -> tuple[Path, str]:
    """(interpreter, full version) for Python `minor`; CompatEnvError naming what to install."""
    candidates = _candidates(minor)
    for python in candidates:
        version = _probe(python, minor)
        if version:
            return python, version
    looked = ", ".join(str(path) for path in candidates) or f"$PYENV_ROOT, ~/.pyenv, PATH (python{minor})"
    raise CompatEnvError(
        f"no usable Python {minor} (with ssl, sqlite3 and venv) for the compatibility tests; looked at: "
        f"{looked}. Install it, e.g. `pyenv install {minor}` (the machine image ships pyenv's "
        f"{minor}.x in /root/.pyenv/versions), or put python{minor} on PATH.")


def env_key(spec: EnvSpec, python_version: str) -> str:
    blob = json.dumps({"python": python_version, "requirements": spec.requirements(),
                       "ranges": RANGES.read_text()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def ensure_env(spec: EnvSpec) -> Path:
    """The env's directory (its python is bin/python), built on first use; CompatEnvError if it fails."""
    python, version = find_python(spec.python)
    root = CACHE / env_key(spec, version)
    ready = root / "ready.json"
    if ready.exists():
        return root
    with _locked(CACHE / (root.name + ".lock")):
        if ready.exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        steps = [[str(python), "-m", "venv", str(root)],
                 [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(RANGES),
                  *spec.requirements()]]
        for argv in steps:
            try:
                result = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                                        env=_pip_env())
            except subprocess.TimeoutExpired:
                raise CompatEnvError(f"{' '.join(argv)} took over {INSTALL_TIMEOUT}s") from None
            if result.returncode != 0:
                shutil.rmtree(root, ignore_errors=True)
                raise CompatEnvError(f"{' '.join(argv)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        ready.write_text(json.dumps({"spec": spec.requirements(), "python": version,
                                     "installed": freeze(root)}, indent=1))
    return root


def freeze(root: Path) -> dict[str, str]:
    """name -> version of what is installed in the env."""
    out = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                         capture_output=True, text=True, timeout=120, env=_pip_env(), check=True)
    return {item["name"].lower(): item["version"] for item in json.loads(out.stdout)}


if __name__ == "__main__":  # build the envs ahead of a test run: python -m tests.service.compat_envs
    for each in specs():
        print(each.name, ensure_env(each), flush=True)
