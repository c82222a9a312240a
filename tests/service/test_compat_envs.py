"""The service on the oldest and the newest supported Python x MLflow, each in its own cached venv.

Per combination: the MLflow contract tests (tests/service/test_mlflow_compat.py) run inside the env,
then a smoke: `python -m service` under gunicorn on 127.0.0.1 serving a tiny sklearn model saved by
that env's MLflow; /readyz, /invocations (JSON dataframe_split and CSV) and /version are checked.
A missing interpreter or a failed install fails the test, naming what to install. More combinations:
PYFUNC_COMPAT_EXTRA (see tests/service/compat_envs.specs).
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest

from devstack.procs import ManagedProcess, free_port, wait_until
from tests.service.compat_envs import REPO, CompatEnvError, EnvSpec, ensure_env, specs

pytestmark = pytest.mark.compat
SPECS = [pytest.param(spec, id=f"{spec.name}-py{spec.python}") for spec in specs()]


@pytest.fixture(scope="module", params=SPECS)
def env(request) -> tuple[EnvSpec, str]:
    spec = request.param
    try:
        root = ensure_env(spec)
    except CompatEnvError as exc:
        pytest.fail(f"{spec.name} env ({spec.python}, {spec.mlflow}): {exc}", pytrace=False)
    return spec, str(root / "bin" / "python")


def _env_vars(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "VIRTUAL_ENV", "SERVICE_", "PROMETHEUS_", "MLFLOW_TRACKING"))}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", **extra)
    return env


def test_contract_tests_pass_in_env(env, tmp_path):
    spec, python = env
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n")
    result = subprocess.run(
        [python, "-m", "pytest", "-c", str(ini), "--rootdir", str(REPO), "--noconftest", "-p", "no:cacheprovider",
         "-q", "-W", "ignore", str(REPO / "tests" / "service" / "test_mlflow_compat.py")],
        capture_output=True, text=True, timeout=900, cwd=REPO, env=_env_vars())
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, f"contract tests failed on {spec.name}:\n{output}"
    assert " passed" in result.stdout and "skipped" not in result.stdout


def _post(url: str, body: str, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": content_type})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
        return response.status, json.loads(response.read())


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        return response.status, json.loads(response.read())


def test_service_serves_a_model_saved_in_env(env, tmp_path):
    spec, python = env
    model_dir = tmp_path / "model"
    saved = subprocess.run([python, str(REPO / "tests" / "service" / "compat_model.py"), str(model_dir)],
                           capture_output=True, text=True, timeout=300, cwd=REPO, env=_env_vars())
    assert saved.returncode == 0, saved.stderr[-3000:]
    expected = json.loads(saved.stdout.strip().splitlines()[-1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = ManagedProcess([python, "-m", "service"], tmp_path / "service.log", cwd=REPO, env=_env_vars(
        SERVICE_MODEL_URI=str(model_dir), SERVICE_HOST="127.0.0.1", SERVICE_PORT=str(port), SERVICE_WORKERS="1"))
    try:
        wait_until(lambda: _get(f"{base}/readyz")[0] == 200, 180, f"{spec.name} service /readyz",
                   log=server.log)
        assert _post(f"{base}/invocations", expected["json_body"], "application/json") == \
            (200, {"predictions": expected["predictions"]})
        assert _post(f"{base}/invocations", expected["csv_body"], "text/csv") == \
            (200, {"predictions": expected["predictions"]})
        status, version = _get(f"{base}/version")
        assert status == 200 and version["mlflow_version"] == expected["mlflow_version"]
        assert version["run_id"] is None and version["signature_digest"].startswith("sha256:")
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert "warm-up done; ready" in log and "Traceback" not in log, log[-4000:]


def test_a_missing_interpreter_fails_naming_what_to_install():
    from tests.service.compat_envs import find_python

    with pytest.raises(CompatEnvError, match=r"pyenv install 3\.99"):
        find_python("3.99")
