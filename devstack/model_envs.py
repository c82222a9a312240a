"""Model environments: one cached venv per (Python minor, pinned packages) spec, where zoo models are trained.

Teams train models on other Pythons and libraries than this project's own venv, so each zoo model is
trained in a venv of its own. A `EnvSpec` names the Python minor and the exact pins; `ensure_env()`
creates the venv once under CACHE_DIR/model-envs/<name>-<hash> (hash of the interpreter's full
version, the pins and the recipe), marks it complete, and reuses it on every later run (a file lock
lets parallel sessions share it).

Interpreters come from pyenv (`$PYENV_ROOT`/`~/.pyenv/versions/X.Y.*`), `pythonX.Y` on PATH, or
`PYFUNC_DEPLOY_PYTHON_3_9`-style variables naming one; a missing one is an InfraError saying what to
install. pip runs without the machine's config files (`PIP_CONFIG_FILE=/dev/null`: their
`find-links`/`file://` extra indexes hold wheels that are not on PyPI), but keeps the index, CA bundle
and trusted hosts the machine's pip uses, so the packages come from the same index a user's pip sees.
"""
from __future__ import annotations

import configparser
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.package_index import PIP_CONFIG_FILES, local_wheel
from devstack.procs import CACHE_DIR, InfraError, file_lock

ENVS_DIR = CACHE_DIR / "model-envs"
RECIPE = "1"  # bump to rebuild every env when the way they are made changes
REPO = Path(__file__).resolve().parent.parent
# pip settings carried over from the machine's config files; file:// indexes and find-links are not.
CARRIED_PIP_KEYS = ("index-url", "extra-index-url", "cert", "trusted-host", "timeout")
PROBE = "import sys, venv, ssl, sqlite3; print('%d.%d.%d' % sys.version_info[:3])"


@dataclass(frozen=True)
class EnvSpec:
    name: str
    python: str  # major.minor
    packages: tuple[str, ...]
    # wheels that lie on this machine rather than on the index (glob, devstack.package_index.local_wheel):
    # the CPU build of torch, as a CPU-only training box installs it from PyTorch's own index
    local_wheels: tuple[str, ...] = ()

    def key(self, python_version: str) -> str:
        text = json.dumps({"python": python_version, "packages": list(self.packages), "recipe": RECIPE})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ModelEnv:
    spec: EnvSpec
    path: Path
    python_version: str  # full, e.g. 3.9.18

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def run(self, *argv: str, timeout: float = 600, env: dict[str, str] | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        """Run this env's python with `argv` from the repository root; InfraError with stderr on failure."""
        result = subprocess.run([str(self.python), *argv], cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise InfraError(f"[{self.spec.name}] python {' '.join(argv[:3])} exited {result.returncode}:\n"
                             f"{result.stderr[-4000:]}")
        return result

    def versions(self, *distributions: str) -> dict[str, str]:
        """Installed versions of `distributions` in this env."""
        code = ("import json, sys, importlib.metadata as m; "
                "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))")
        return json.loads(self.run("-c", code, *distributions).stdout)


def _project_pin(distribution: str) -> str:
    """`distribution==X` as pinned in this project's requirements.txt."""
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == distribution:
            return line.strip()
    raise InfraError(f"{distribution} is not pinned in requirements.txt")


# The zoo's environments (see devstack/model_zoo.py for which model trains where).
SPECS = {
    # The widely followed production guide's stack: Python 3.9, MLflow 2.10, sklearn 1.3, pandas 2.0.
    "py39-mlflow210": EnvSpec("py39-mlflow210", "3.9", (
        "mlflow==2.10.2", "scikit-learn==1.3.2", "pandas==2.0.3", "numpy==1.24.3", "scipy==1.11.4",
        "joblib==1.3.2", "cloudpickle==3.0.0")),
    # This project's Python and MLflow with the boosting libraries and ONNX. xgboost-cpu is xgboost
    # without the CUDA/NCCL wheels that `xgboost` >= 2.1 pulls in on Linux (same `xgboost` module).
    "py311-boosting": EnvSpec("py311-boosting", "3.11", (
        _project_pin("mlflow"), _project_pin("scikit-learn"), _project_pin("numpy"), _project_pin("pandas"),
        _project_pin("scipy"), _project_pin("cloudpickle"), "xgboost-cpu==3.2.0", "lightgbm==4.6.0",
        "catboost==1.2.10", "onnx==1.23.2", "onnxruntime==1.32.0")),
    # The newest installable MLflow on the newest Python the images support (mlflow 3.18.0 is on the
    # index, but its mlflow-skinny==3.18.0 dependency is not: pip cannot install it).
    "py313-mlflow-newest": EnvSpec("py313-mlflow-newest", "3.13", (
        "mlflow==3.17.2", "scikit-learn==1.9.1", "numpy==2.5.5", "pandas==3.1.1", "skops==0.16.0")),
    # A deep-learning team's CPU training box: the CPU build of torch (torch==X+cpu, from PyTorch's own
    # index; PyPI's Linux torch is the CUDA build), this project's MLflow, and scikit-learn beside it
    # (one environment holds every library, so torch is captured into a sklearn model's requirements).
    "py311-torch-cpu": EnvSpec("py311-torch-cpu", "3.11", (
        _project_pin("mlflow"), _project_pin("numpy"), _project_pin("pandas"), _project_pin("cloudpickle"),
        _project_pin("scikit-learn"), _project_pin("scipy"), "torch==2.13.0+cpu"),
        local_wheels=("torch-2.13.0+cpu-cp311-*.whl",)),
}

# Not a zoo environment (made on first use, not by the bootstrap): the benchmarks' peer MLServer with
# its MLflow runtime (`devstack.model_servers.start_mlserver`) and the libraries the benchmarks' model
# is trained with in this project's venv. uvloop as of MLServer 1.7.1's release: its workers call
# asyncio.get_event_loop(), which uvloop >= 0.22 refuses.
MLSERVER = EnvSpec("py311-mlserver", "3.11", (
    "mlserver==1.7.1", "mlserver-mlflow==1.7.1", "uvloop==0.21.0", _project_pin("mlflow"),
    _project_pin("scikit-learn"), _project_pin("numpy"), _project_pin("pandas"), _project_pin("scipy"),
    _project_pin("cloudpickle")))


def _patch(path: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", path)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def python_candidates(minor: str) -> list[str]:
    """Where an interpreter for `minor` may be, best first."""
    override = os.environ.get(f"PYFUNC_DEPLOY_PYTHON_{minor.replace('.', '_')}")
    candidates = [override] if override else []
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    for root in dict.fromkeys(r for r in roots if r):
        found = glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}")
        candidates += sorted((p for p in found if re.search(rf"/{re.escape(minor)}\.\d+/bin/", p)),
                             key=_patch, reverse=True)
    on_path = shutil.which(f"python{minor}")
    candidates += [p for p in (on_path, f"/usr/local/bin/python{minor}", f"/usr/bin/python{minor}") if p]
    return list(dict.fromkeys(candidates))


def find_python(minor: str) -> tuple[Path, str]:
    """A working interpreter for `minor` (with ssl, sqlite3, venv) and its full version."""
    tried = python_candidates(minor)
    for candidate in tried:
        if not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run([candidate, "-c", PROBE], capture_output=True, text=True, check=False)
        version = probe.stdout.strip()
        if probe.returncode == 0 and version.startswith(f"{minor}."):
            return Path(candidate), version
    raise InfraError(
        f"no working Python {minor} interpreter (with ssl, sqlite3 and venv) on this machine; looked at: "
        f"{', '.join(tried) or 'nothing'}. Install CPython {minor} (e.g. `pyenv install {minor}`, or "
        f"`apt-get install python{minor}-venv` where the distribution has it) or point "
        f"PYFUNC_DEPLOY_PYTHON_{minor.replace('.', '_')} at its python{minor}.")


def pip_env() -> dict[str, str]:
    """The environment for pip: no config files, the machine's index/CA/trusted hosts kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in (
        "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT")}
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([os.path.expanduser(path) for path in PIP_CONFIG_FILES])
    for section in ("global", "install"):
        for key in CARRIED_PIP_KEYS:
            value = parser.get(section, key, fallback="")
            value = " ".join(v for v in value.split() if not v.startswith("file:"))
            name = "PIP_DEFAULT_TIMEOUT" if key == "timeout" else "PIP_" + key.upper().replace("-", "_")
            if value and name not in env:
                env[name] = value
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def env_path(spec: EnvSpec) -> tuple[Path, Path, str]:
    """(venv directory, interpreter, its full version) for `spec`, without creating anything."""
    interpreter, version = find_python(spec.python)
    return ENVS_DIR / f"{spec.name}-{spec.key(version)}", interpreter, version


def ensure_env(spec: EnvSpec | str) -> ModelEnv:
    """The venv for `spec` (a spec or a name in SPECS), created and cached on first use."""
    spec = SPECS[spec] if isinstance(spec, str) else spec
    path, interpreter, version = env_path(spec)
    env = ModelEnv(spec, path, version)
    with file_lock(ENVS_DIR / f".{path.name}.lock"):
        if (path / ".complete").is_file():
            return env
        shutil.rmtree(path, ignore_errors=True)
        try:
            subprocess.run([str(interpreter), "-m", "venv", str(path)], check=True, capture_output=True, text=True)
            links = [arg for pattern in spec.local_wheels for arg in ("--find-links", str(local_wheel(pattern).parent))]
            install = subprocess.run(
                [str(env.python), "-m", "pip", "install", "--quiet", "--no-cache-dir", *links, *spec.packages],
                env=pip_env(), capture_output=True, text=True, timeout=1800, check=False)
            if install.returncode != 0:
                raise InfraError(f"pip could not install the {spec.name} environment (Python {version}, "
                                 f"{' '.join(spec.packages)}):\n{install.stderr[-4000:]}")
            freeze = subprocess.run([str(env.python), "-m", "pip", "freeze", "--all"], env=pip_env(),
                                    capture_output=True, text=True, check=True).stdout
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise InfraError(f"creating the {spec.name} environment failed: {exc}\n"
                             f"{getattr(exc, 'stderr', '') or ''}") from exc
        except InfraError:
            shutil.rmtree(path, ignore_errors=True)
            raise
        (path / "freeze.txt").write_text(freeze)
        (path / "spec.json").write_text(json.dumps(
            {"name": spec.name, "python": version, "packages": list(spec.packages)}, indent=1))
        (path / ".complete").touch()
    return env


def main() -> int:
    """`python -m devstack.model_envs [NAME...]`: create (or find) the zoo's envs, side by side; print their paths."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    names = sys.argv[1:] or list(SPECS)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        for name, env in zip(names, pool.map(ensure_env, names), strict=True):
            print(f"{name}\t{env.path}\tPython {env.python_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
