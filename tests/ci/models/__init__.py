"""Register the load-failure fixture models (tests/ci/models/load_failures.py) in an MLflow server.

Each broken model is logged with a signature but no input example: MLflow would otherwise load it
in this process while logging. Returns `ci.build.ModelRef`s, keyed by failure class.
"""
from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml
from mlflow.models import infer_signature

from ci.model_ref import ModelRef

HERE = Path(__file__).resolve().parent
WRAPPERS = HERE / "load_failures.py"
REQUIREMENTS = ["mlflow==3.17.2", "pandas==3.1.1", "numpy==2.4.6", "cloudpickle==3.1.3"]
EXAMPLE = pd.DataFrame({"x": np.array([1.0, 2.5, -3.0])})


def _wrappers():
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("load_failures")


def _log(name: str, python_model, *, code_paths: bool = True, artifacts: dict[str, str] | None = None,
         input_example: bool = False, python_version: str | None = None) -> ModelRef:
    signature = infer_signature(EXAMPLE, EXAMPLE * 2)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=name) as run:
        local = Path(tmp) / "model"
        mlflow.pyfunc.save_model(
            local, python_model=python_model, artifacts=artifacts, signature=signature,
            code_paths=[str(WRAPPERS)] if code_paths else None, pip_requirements=REQUIREMENTS,
            input_example=EXAMPLE if input_example else None)
        if python_version:  # what a model trained on another Python says about itself
            _set_python_version(local, python_version)
        mlflow.log_artifacts(str(local), "model")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return ModelRef(version.name, str(version.version), run.info.run_id)


def _set_python_version(model_dir: Path, python_version: str) -> None:
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["python_version"] = python_version
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    env = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    env["python"] = python_version
    (model_dir / "python_env.yaml").write_text(yaml.safe_dump(env))


def register_load_fixtures(tracking_uri: str, prefix: str = "gate-load") -> dict[str, ModelRef]:
    """The control model ("ok") and one model per failure class the load gate names."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("load-gate-fixtures")
    w = _wrappers()
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.bin"
        weights.write_bytes(b"\0" * 16)
        return {
            "ok": _log(f"{prefix}-ok", w.Echo(), input_example=True),
            "code-paths": _log(f"{prefix}-code-paths", w.Echo(), code_paths=False),
            "artifact-key": _log(f"{prefix}-artifact-key", w.NeedsArtifact()),
            "python-version": _log(f"{prefix}-python-version", w.PickledByOtherPython(),
                                   python_version="3.10.12"),
            "read-only-fs": _log(f"{prefix}-read-only-fs", w.WritesNextToArtifacts(),
                                 artifacts={"weights": str(weights)}),
            "tracking-server": _log(f"{prefix}-tracking-server", w.FetchesFromTracking()),
        }
