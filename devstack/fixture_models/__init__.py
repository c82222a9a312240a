"""Register the fixture models the tests and benchmarks deploy in an MLflow server: the load gate's
failure classes (load_failures.py), the image environment's (zoo_wrappers.py), the shadow and
canary versions (shadow_models.py).

Each broken model is logged with a signature but no input example: MLflow would otherwise load it
in this process while logging. Returns `ci.image.build.ModelRef`s, keyed by failure class.
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

from ci.registry.model_ref import ModelRef

HERE = Path(__file__).resolve().parent
WRAPPERS = HERE / "load_failures.py"
REQUIREMENTS = ["mlflow==3.17.2", "pandas==3.1.1", "numpy==2.4.6", "cloudpickle==3.1.3"]
EXAMPLE = pd.DataFrame({"x": np.array([1.0, 2.5, -3.0])})
UNUSED = "uvloop==0.23.0"  # the service's own pin: the image resolves as before, and loading never imports it


def _wrappers(module: str = "load_failures"):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(module)


def _log(name: str, python_model, *, code_paths: bool = True, artifacts: dict[str, str] | None = None,
         input_example: bool = False, python_version: str | None = None, requirements: list[str] = REQUIREMENTS,
         wrappers: Path = WRAPPERS, signature=None, model_config: dict | None = None) -> ModelRef:
    signature = signature or infer_signature(EXAMPLE, EXAMPLE * 2)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=name) as run:
        local = Path(tmp) / "model"
        mlflow.pyfunc.save_model(
            local, python_model=python_model, artifacts=artifacts, signature=signature,
            code_paths=[str(wrappers)] if code_paths else None, pip_requirements=requirements,
            input_example=EXAMPLE if input_example else None, model_config=model_config)
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
            # requires a package it never imports, as a model logged in a notebook environment does
            "ok": _log(f"{prefix}-ok", w.Echo(), input_example=True, requirements=[*REQUIREMENTS, UNUSED]),
            "code-paths": _log(f"{prefix}-code-paths", w.Echo(), code_paths=False),
            "artifact-key": _log(f"{prefix}-artifact-key", w.NeedsArtifact()),
            "python-version": _log(f"{prefix}-python-version", w.PickledByOtherPython(),
                                   python_version="3.10.12"),
            "read-only-fs": _log(f"{prefix}-read-only-fs", w.WritesNextToArtifacts(),
                                 artifacts={"weights": str(weights)}),
            "tracking-server": _log(f"{prefix}-tracking-server", w.FetchesFromTracking()),
        }


# A model pinned to an older stack than the service's (scikit-learn 1.3, pandas 2.0, numpy left open),
# with LightGBM (needs the OpenMP runtime, libgomp1, which python:*-slim lacks).
OLD_PINS = ["mlflow==3.17.2", "cloudpickle==3.1.3", "scikit-learn==1.3.2", "pandas==2.0.3", "lightgbm==4.6.0"]


def register_image_env_fixtures(tracking_uri: str, prefix: str = "image-env") -> dict[str, ModelRef]:
    """"old-pins": reports the versions of the libraries it imports; "timestamped": answers a timestamp
    and a random id per row. Both with an input example, so the load gate predicts."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("image-env-fixtures")
    w = _wrappers("zoo_wrappers")
    wrappers = HERE / "zoo_wrappers.py"
    modules = ["sklearn", "pandas", "numpy", "lightgbm"]
    versions = Schema([ColSpec("double", "x"), *(ColSpec("string", f"{m}_version") for m in sorted(modules))])
    stamped = Schema([ColSpec("double", "x"), ColSpec("string", "timestamp"), ColSpec("string", "request_id")])
    inputs = Schema([ColSpec("double", "x")])
    return {
        "old-pins": _log(f"{prefix}-old-pins", w.ReportsItsLibraries(), input_example=True, requirements=OLD_PINS,
                         wrappers=wrappers, signature=ModelSignature(inputs, versions),
                         model_config={"modules": modules}),
        # tzdata: requirements of its own, so pip really runs (and meets the private index) in its build
        "timestamped": _log(f"{prefix}-timestamped", w.Timestamped(), input_example=True,
                            requirements=[*REQUIREMENTS, "tzdata"], wrappers=wrappers,
                            signature=ModelSignature(inputs, stamped)),
    }


def register_shadow_versions(tracking_uri: str, name: str = "shadow-model") -> dict[str, ModelRef]:
    """"stable": version 1; "changed": version 2, which changes every 10th row (x a multiple of 10):
    its class flipped, its score moved by 0.05; "raises": fails on rows whose x is a multiple of 7;
    "shifted": every score doubled; "slow": the same answers, 0.15 s later (shadow_models.py here)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("shadow-fixtures")
    w = _wrappers("shadow_models")
    wrappers = HERE / "shadow_models.py"
    signature = infer_signature(EXAMPLE, w.Scores().predict(None, EXAMPLE))
    return {key: _log(name, model, input_example=True, wrappers=wrappers, signature=signature)
            for key, model in (("stable", w.Scores()), ("changed", w.Scores(every=10, shift=0.05)),
                               ("raises", w.Scores(raise_every=7)), ("shifted", w.Scores(scale=2.0)),
                               ("slow", w.Scores(delay=0.15)))}
