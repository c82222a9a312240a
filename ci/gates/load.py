"""Model-load gate: run the exact image that will ship and prove the model in it loads and answers.

The container runs shaped like the production pod (read-only root, writable /tmp, the image's
non-root user) with no tracking server reachable, because a pod must start without one. When the
model does not load, the log is matched against the failure classes met in practice and the error
names the cause and the fix, not only a traceback.
"""
from __future__ import annotations

import io
import json
import logging
import math
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ci.errors import CheckFailed
from ci.tools import podman, tail

log = logging.getLogger("ci.gates.load")

DEFAULT_READY_TIMEOUT = 120.0
POLL_SECONDS = 0.25
# The container gets a tracking URI that answers nothing, and MLflow fails fast on it.
NO_TRACKING_SERVER = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                      "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
REL_TOLERANCE = 1e-9
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class FailureClass:
    name: str
    pattern: re.Pattern[str]
    cause: str  # may use the pattern's named groups
    fix: str


FAILURE_CLASSES = (
    FailureClass(
        "code-paths", re.compile(r"ModuleNotFoundError: No module named '(?P<module>[\w.]+)'"),
        "the model's Python code refers to module `{module}`, which is not in the image: the wrapper "
        "was pickled by reference to a module that was not shipped with the model",
        "log the model with `code_paths=[\"path/to/{module}.py\"]` (or `infer_code_paths=True`); if "
        "`{module}` is a library, add it to the model's pip_requirements and service/requirements.txt"),
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


@dataclass(frozen=True)
class LoadGateResult:
    image: str
    ready_seconds: float
    model_version: str
    rows: int
    max_abs_diff: float


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
            return (f"{failure.name}: {failure.cause.format(**values)}.\nFix: {failure.fix.format(**values)}")
    return "the model did not load for an unrecognised reason; read the log below"


def runtime_versions(image: str, model_dir: Path, env: Mapping[str, str] | None,
                     cli: str = podman.DEFAULT_CLI) -> dict[str, str]:
    """Python and cloudpickle versions of the model (its MLmodel/requirements) and of the image."""
    from mlflow.models import Model

    meta = Model.load(str(model_dir))
    model_python = str(meta.flavors.get("python_function", {}).get("python_version", "unknown"))
    requirements_file = model_dir / "requirements.txt"
    requirements = requirements_file.read_text() if requirements_file.exists() else ""
    pinned = re.search(r"^cloudpickle==(\S+)", requirements, re.MULTILINE)
    probe = "import platform, cloudpickle; print(platform.python_version(), cloudpickle.__version__)"
    ran = podman.run_once(image, ["python", "-c", probe], cli=cli, env=env)
    return {"model_runtime": f"Python {model_python}, cloudpickle {pinned.group(1) if pinned else '?'}",
            "image_runtime": "Python {}, cloudpickle {}".format(*(ran.split() + ["?", "?"])[:2])}


def _get_json(url: str, body: bytes | None = None) -> tuple[int, object]:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _ready_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def expected_answer(model_dir: Path) -> tuple[bytes, object, int]:
    """The serving input example as a request body and the model's own answer to it, in-process."""
    import mlflow.pyfunc
    from mlflow.models import Model
    from mlflow.pyfunc.scoring_server import predictions_to_json

    body_path = model_dir / "serving_input_example.json"
    if not body_path.is_file():
        raise CheckFailed(f"the model has no serving input example ({body_path.name}): log it with "
                          "`input_example=` so the gate (and the service warm-up) can predict")
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    predictions = mlflow.pyfunc.load_model(str(model_dir)).predict(example)
    out = io.StringIO()
    predictions_to_json(predictions, out)
    return body_path.read_bytes(), json.loads(out.getvalue()), len(example)


def max_difference(got: object, want: object, where: str = "predictions") -> float:
    """Largest absolute numeric difference; raise CheckFailed at the first structural mismatch."""
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        return max((max_difference(got[k], want[k], f"{where}.{k}") for k in want), default=0.0)
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        pairs = enumerate(zip(got, want, strict=True))
        return max((max_difference(g, w, f"{where}[{i}]") for i, (g, w) in pairs), default=0.0)
    if isinstance(want, int | float) and isinstance(got, int | float) and not isinstance(want, bool):
        if math.isclose(got, want, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
            return abs(got - want)
    elif got == want:
        return 0.0
    raise CheckFailed(f"the image's answer differs from the model's own at {where}: "
                      f"got {json.dumps(got)[:120]}, expected {json.dumps(want)[:120]}")


def _version_of(payload: object) -> str | None:
    value = payload.get("model_version") if isinstance(payload, dict) else None
    return None if value is None else str(value)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_load_gate(image: str, *, model_dir: Path, expected_version: str, port: int,
                  ready_timeout: float = DEFAULT_READY_TIMEOUT, authfile: Path | None = None,
                  cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None) -> LoadGateResult:
    """Start `image` on 127.0.0.1:`port` with `cli` (podman or docker), wait for /readyz, check /version
    and one prediction."""
    name = f"load-gate-{uuid.uuid4().hex[:10]}"
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    podman.run_detached(image, name=name, authfile=authfile, cli=cli, env=env, environment={
        **NO_TRACKING_SERVER, "SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port)})
    try:
        ready_seconds = _wait_ready(image, name, base, started, ready_timeout, model_dir, cli, env)
        body, want, rows = expected_answer(model_dir)
        status, info = _get_json(f"{base}/version")
        version = _version_of(info)
        if status != 200 or version != str(expected_version):
            raise CheckFailed(f"/version of {image} reports model version {version!r} (HTTP {status}), "
                              f"expected {expected_version}: the image was built from another version")
        status, got = _get_json(f"{base}/invocations", body)
        if status != 200:
            raise CheckFailed(f"prediction on the input example failed with HTTP {status}: {got}")
        diff = max_difference(got, want)
    finally:
        podman.remove(name, cli=cli, env=env)
    log.info("load gate passed: ready in %.1fs, version %s, %d rows equal", ready_seconds, version, rows)
    return LoadGateResult(image=image, ready_seconds=round(ready_seconds, 2), model_version=version,
                          rows=rows, max_abs_diff=diff)


def _wait_ready(image: str, name: str, base: str, started: float, timeout: float, model_dir: Path,
                cli: str, env: Mapping[str, str] | None) -> float:
    while time.monotonic() - started < timeout:
        if _ready_status(f"{base}/readyz") == 200:
            return time.monotonic() - started
        state = podman.state(name, cli=cli, env=env)
        if not state.running:
            logs = podman.logs(name, cli=cli, env=env)
            versions = lambda: runtime_versions(image, model_dir, env, cli)  # noqa: E731
            raise CheckFailed(f"the model in {image} did not load (container {state.status}, exit "
                              f"{state.exit_code}{', OOM-killed' if state.oom_killed else ''}).\n"
                              f"Cause: {classify(logs, versions)}\n--- container log ---\n"
                              f"{tail(logs, LOG_TAIL_LINES)}")
        time.sleep(POLL_SECONDS)
    logs = podman.logs(name, cli=cli, env=env)
    raise CheckFailed(f"{image} was not ready within {timeout:.0f}s (/readyz never returned 200).\n"
                      f"Cause: {classify(logs)}\n--- container log ---\n{tail(logs, LOG_TAIL_LINES)}")
