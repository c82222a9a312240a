"""`ci gate load` on real images built from service/Dockerfile: a good model passes, and each known
failure class is reproduced by a deliberately broken model and named with its fix."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ci.capacity.pod_shape import PodShape
from ci.errors import CheckFailed
from ci.gates import candidate
from ci.gates.load import run_load_gate
from ci.image.build import build
from ci.registry.gate_tags import gate_tag
from ci.registry.model_ref import ModelRef
from devstack.fixture_models import register_load_fixtures
from tests.ci.recording_http import RecordingServer

pytestmark = pytest.mark.containers

FAILURE_CLASSES = ["code-paths", "artifact-key", "python-version", "read-only-fs", "tracking-server"]


@pytest.fixture(scope="module")
def load_models(mlflow_sqlite) -> dict[str, ModelRef]:
    return register_load_fixtures(mlflow_sqlite.url)


@pytest.fixture(scope="module")
def images(oci_registry, mlflow_sqlite, load_models) -> dict[str, str]:
    """One image per fixture model, built from the real service source. The python-version model says it
    was saved by Python 3.10.12: its base is pinned to the 3.11 one, as a wrong BASE_IMAGE_PATTERN would."""
    repository = f"{oci_registry.address}/serving/gate-load"
    wrong_base = {"python-version": "3.10=python:3.11-slim"}
    return {key: build(model, repository=repository, commit="9a7e10ad", tracking_uri=mlflow_sqlite.url,
                       env=oci_registry.env, **({"base_image_pattern": wrong_base[key]} if key in wrong_base else {}))
            .reference for key, model in load_models.items()}


def _gate(key: str, images, load_models, mlflow_sqlite, oci_registry, tmp_path: Path, **kwargs):
    model = load_models[key]
    kwargs.setdefault("expected_version", model.version)
    return run_load_gate(images[key], env=oci_registry.env, **kwargs)


def test_good_model_passes(images, load_models, mlflow_sqlite, oci_registry, tmp_path):
    pod = PodShape(0.25, 1.0, 2**30, None, startup_seconds=60.0)
    result = _gate("ok", images, load_models, mlflow_sqlite, oci_registry, tmp_path, pod=pod)
    assert result.model_version == load_models["ok"].version
    assert (result.memory_limit, result.startup_seconds) == (2**30, 60.0)
    assert 30 * 2**20 < result.memory_bytes < 2**30 * 0.9  # the working set, page cache not counted
    assert result.rows == 3
    assert result.max_abs_diff == 0.0 and result.precision == "float64"
    assert result.ready_seconds < 60
    # required, installed, never imported while loading and predicting: reported with its size
    assert [(r["name"], r["version"]) for r in result.unused_requirements] == [("uvloop", "0.23.0")]
    assert result.unused_requirements[0]["bytes"] > 1_000_000


def test_a_model_too_large_for_the_pod_fails_before_any_rollout(images, load_models, mlflow_sqlite, oci_registry,
                                                                tmp_path):
    pod = PodShape(0.25, 1.0, 64 * 2**20, None, startup_seconds=60.0)  # less than MLflow and pandas need
    (Path.cwd() / "oom").unlink(missing_ok=True)
    with pytest.raises(CheckFailed) as raised:
        _gate("ok", images, load_models, mlflow_sqlite, oci_registry, tmp_path, pod=pod)
    assert not (Path.cwd() / "oom").exists()  # podman's conmon marks an OOM kill in its working directory
    message = str(raised.value)
    assert "OOM-killed" in message and "Cause: pod-memory: " in message and "limit of 64 MiB" in message, message
    assert "Fix: raise resources.limits.memory" in message


def _taken_first(monkeypatch, port: int) -> list[int]:
    """`free_port` answers `port` first (taken after the gate chose it), then free ones; the ports given."""
    given, free = [], candidate.free_port

    def chosen() -> int:
        given.append(port if not given else free())
        return given[-1]

    monkeypatch.setattr(candidate, "free_port", chosen)
    return given


def test_a_port_taken_by_another_ready_service_is_left_for_another_port(images, load_models, mlflow_sqlite,
                                                                        oci_registry, tmp_path, monkeypatch):
    """Another model's service, ready, on the port the gate chose (gates run side by side, and a port
    given back by the kernel is soon given again): the gate tries another port and measures its own
    container, never the service that answered first."""
    version = load_models["ok"].version
    impostor = [("GET", "/readyz", (200, {"status": "ready"})),
                ("GET", "/version", (200, {"model_version": version, "instance": "gate-someone-else"})),
                ("POST", "/invocations", (200, {"predictions": [0, 0, 0]}))]
    with RecordingServer(impostor) as other:
        given = _taken_first(monkeypatch, int(other.url.rsplit(":", 1)[1]))
        result = _gate("ok", images, load_models, mlflow_sqlite, oci_registry, tmp_path)
    assert len(given) == 2 and given[0] != given[1], given
    assert other.calls("GET", "/version") and not other.calls("POST", "/invocations")
    assert result.model_version == version and result.max_abs_diff == 0.0


def test_a_port_held_by_a_listener_that_is_no_service_is_left_for_another_port(images, load_models, mlflow_sqlite,
                                                                               oci_registry, tmp_path, monkeypatch):
    """A port some other program holds without answering HTTP: the container's Gunicorn cannot bind
    it and stops; the gate starts it on another port instead of naming a load failure."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        given = _taken_first(monkeypatch, holder.getsockname()[1])
        result = _gate("ok", images, load_models, mlflow_sqlite, oci_registry, tmp_path)
    assert len(given) == 2, given
    assert result.max_abs_diff == 0.0


def test_wrong_version_is_refused(images, load_models, mlflow_sqlite, oci_registry, tmp_path):
    with pytest.raises(CheckFailed, match="reports model version"):
        _gate("ok", images, load_models, mlflow_sqlite, oci_registry, tmp_path, expected_version="999")


@pytest.mark.parametrize("failure", FAILURE_CLASSES)
def test_each_load_failure_is_named_with_its_fix(failure, images, load_models, mlflow_sqlite, oci_registry,
                                                 tmp_path):
    with pytest.raises(CheckFailed) as raised:
        _gate(failure, images, load_models, mlflow_sqlite, oci_registry, tmp_path, ready_timeout=60)
    message = str(raised.value)
    assert f"Cause: {failure}:" in message, message
    assert "Fix:" in message
    if failure == "python-version":
        assert "Python 3.10.12" in message and "Python 3.11" in message


def test_cli_passes_and_fails_with_exit_codes(images, load_models, mlflow_sqlite, oci_registry, tmp_path):
    def run(key: str) -> subprocess.CompletedProcess[str]:
        model = load_models[key]
        env = {**os.environ, **oci_registry.env, "MLFLOW_TRACKING_URI": mlflow_sqlite.url,
               "MODEL_NAME": model.name, "MODEL_VERSION": model.version, "IMAGE_REF": images[key],
               "CI_REPORTS_DIR": str(tmp_path / key)}
        return subprocess.run([sys.executable, "-m", "ci", "gate", "load", "--ready-timeout", "60"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    def verdict(key: str) -> str:
        model = load_models[key]
        version = MlflowClient(mlflow_sqlite.url).get_model_version(model.name, model.version)
        return version.tags[gate_tag("load")]

    passed = run("ok")
    assert passed.returncode == 0, passed.stderr
    report = json.loads((tmp_path / "ok" / "load.json").read_text())
    assert report["rows"] == 3
    assert "required but not needed by this model (never imported, or it loads and answers the same without): " \
           "uvloop 0.23.0 (" in json.dumps(report), report
    # shaped like the production overlay's pod (CAPACITY_MANIFESTS' default): its memory limit, 1 Gi
    assert report["memory_limit"] == 2**30 and 0 < report["memory_bytes"] < 2**30, report
    assert "ready in" in passed.stdout and "s of 60s allowed" in passed.stdout, passed.stdout
    assert verdict("ok") == "passed"
    failed = run("artifact-key")
    assert failed.returncode == 1
    assert "artifact `tokenizer`" in failed.stderr
    assert verdict("artifact-key") == "failed"
