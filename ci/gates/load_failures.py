"""Why a model did not load in its image: the container's log matched against the failure classes met
in practice, each named with its cause and its fix, so the job says more than a traceback."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ci.tools import podman


@dataclass(frozen=True)
class FailureClass:
    name: str
    pattern: re.Pattern[str]
    cause: str  # may use the pattern's named groups
    fix: str


# Shared library (soname stem) -> the Debian package that ships it, for the ones wheels commonly need.
DEBIAN_PACKAGES = {"libgomp": "libgomp1", "libGL": "libgl1", "libglib-2.0": "libglib2.0-0",
                   "libgthread-2.0": "libglib2.0-0", "libsndfile": "libsndfile1", "libX11": "libx11-6",
                   "libXext": "libxext6", "libXrender": "libxrender1", "libSM": "libsm6", "libICE": "libice6",
                   "libgfortran": "libgfortran5", "libquadmath": "libquadmath0", "libopenblas": "libopenblas0",
                   "libaio": "libaio1", "libpq": "libpq5", "libodbc": "unixodbc", "libgssapi_krb5": "libgssapi-krb5-2"}

FAILURE_CLASSES = (
    FailureClass(
        "shared-library", re.compile(r"(?P<library>(?P<stem>lib[\w+.-]+?)\.so(?:\.[\d.]+)?): cannot open "
                                     r"shared object file"),
        "a library of the model's packages needs the system library `{library}`, which the image does not "
        "have (python:*-slim ships almost none)",
        "add {package_hint} with IMAGE_SYSTEM_PACKAGES=\"{package}\" (the `ci build` setting "
        "--system-packages) and rebuild"),
    FailureClass(
        "missing-package", re.compile(
            r'File "[^"\n]*/(?:site|dist)-packages/(?P<importer>[\w.-]+)/[^"\n]*", line \d+, in [^\n]*\n'
            r"[ \t]*(?:import|from)[ \t][^\n]*\n(?:[\s^~]*\n)?"  # an import statement, not an unpickling
            r"ModuleNotFoundError: No module named '(?P<module>[\w.]+)'"),
        "the installed package `{importer}` imports `{module}`, which is not in the image: the model's "
        "requirements leave out a package it needs",
        "add the package that provides `{module}` to the model's pip_requirements (or extra_pip_requirements) "
        "and log a new version; the image installs the model's requirements"),
    FailureClass(
        "code-paths", re.compile(r"ModuleNotFoundError: No module named '(?P<module>[\w.]+)'"),
        "the model's Python code refers to module `{module}`, which is not in the image: the wrapper "
        "was pickled by reference to a module that was not shipped with the model",
        "log the model with `code_paths=[\"path/to/{module}.py\"]` (or `infer_code_paths=True`); if "
        "`{module}` is a library, add it to the model's pip_requirements (the image installs them)"),
    FailureClass(
        "artifact-key", re.compile(r"load_context[\s\S]*KeyError: '(?P<key>[^']+)'"),
        "`load_context` asks for artifact `{key}`, which the model was not logged with",
        "log the model with `artifacts={{\"{key}\": <path>}}`, or read the key the model has"),
    FailureClass(
        "python-version", re.compile(
            r"code\(\) argument \d+ must be|code expected at most|unsupported pickle protocol|"
            r"cloudpickle[\s\S]*(TypeError|AttributeError|ValueError)|bad marshal data|"
            r"(?P<bad>_make_function|_function_setstate|_class_setstate)"),
        "the model was pickled by another Python or cloudpickle version than the image runs "
        "(model: {model_runtime}; image: {image_runtime})",
        "retrain/log the model with the image's Python and cloudpickle, or pin the image's Python to the "
        "model's (the `python_env.yaml` of the model version)"),
    FailureClass(
        "read-only-fs", re.compile(r"PermissionError: \[Errno 13\][^\n]*|\[Errno 30\] Read-only file system"
                                   r"[^\n]*"),
        "the model writes to the file system while loading, and the pod's root file system is read-only "
        "and not owned by the service user ({match})",
        "write only under /tmp (an emptyDir in the pod), or do that work before logging the model"),
    FailureClass(
        "tracking-server", re.compile(
            r"(Max retries exceeded|Connection refused|API request to [^\n]* failed)[^\n]*"),
        "the model calls the MLflow tracking server while loading; a pod must start without it "
        "({match})",
        "log what `load_context` downloads as model `artifacts` so it is baked into the image"),
)


def classify(logs: str, versions: Callable[[], Mapping[str, str]] | None = None) -> str:
    """Cause and fix for a failed load, from the container's log; `versions` is asked only for a
    version mismatch (it runs the image once more)."""
    for failure in FAILURE_CLASSES:
        match = failure.pattern.search(logs)
        if match:
            values = {"match": match.group(0).strip()[:200], "model_runtime": "unknown",
                      "image_runtime": "unknown", **{k: v for k, v in match.groupdict().items() if v}}
            if failure.name == "python-version" and versions is not None:
                values.update(versions())
            if failure.name == "shared-library":
                known = DEBIAN_PACKAGES.get(values["stem"])
                values["package"] = known or "<package>"
                values["package_hint"] = (f"the Debian package {known}" if known else "the Debian package that "
                                          f"ships {values['library']} (`apt-file search {values['library']}`)")
            return (f"{failure.name}: {failure.cause.format(**values)}.\nFix: {failure.fix.format(**values)}")
    return "the model did not load for an unrecognised reason; read the log below"


# Runs in the image: its Python and cloudpickle, and those the baked-in model was saved with.
_RUNTIME_PROBE = """
import os, platform, re, cloudpickle, yaml
model = os.environ.get("SERVICE_MODEL_URI", "/opt/model")
with open(os.path.join(model, "MLmodel")) as f:
    python = (yaml.safe_load(f) or {}).get("flavors", {}).get("python_function", {}).get("python_version")
try:
    with open(os.path.join(model, "requirements.txt")) as f:
        pinned = re.search(r"^cloudpickle==(\\S+)", f.read(), re.MULTILINE)
except OSError:
    pinned = None
print(platform.python_version(), cloudpickle.__version__, python or "unknown", pinned.group(1) if pinned else "?")
"""


def runtime_versions(image: str, env: Mapping[str, str] | None, cli: str = podman.DEFAULT_CLI) -> dict[str, str]:
    """Python and cloudpickle versions of the model (its MLmodel/requirements, as baked into the image)
    and of the image: one more run of the image, no download."""
    ran = (podman.run_once(image, ["python", "-c", _RUNTIME_PROBE], cli=cli, env=env).split() + ["?"] * 4)[:4]
    return {"model_runtime": f"Python {ran[2]}, cloudpickle {ran[3]}",
            "image_runtime": f"Python {ran[0]}, cloudpickle {ran[1]}"}
