"""The model zoo: which models it holds, the environment each is trained in, and registering them into MLflow.

Each model is trained by its own script in devstack/zoo/, run by the Python of its model environment
(devstack/model_envs.py), against a real tracking server; `train_all()` returns a `ModelRef` per model.

    python -m devstack.model_zoo --tracking-uri URL [KEY ...]
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devstack.model_envs import REPO, ModelEnv, ensure_env
from devstack.procs import InfraError

RESULT_PREFIX = "ZOO-RESULT "  # printed by devstack/zoo/common.py


@dataclass(frozen=True)
class ZooModel:
    key: str
    trainer: str  # module run as `python -m` in the env
    env: str  # a name in model_envs.SPECS
    what: str


ZOO = {model.key: model for model in (
    ZooModel("sklearn", "devstack.zoo.sklearn_model", "py313-mlflow-newest",
             "mlflow.sklearn pipeline (skops), Python 3.13, MLflow 3.17.2"),
    ZooModel("xgboost", "devstack.zoo.xgboost_model", "py311-boosting", "mlflow.xgboost classifier (xgboost-cpu)"),
    ZooModel("lightgbm", "devstack.zoo.lightgbm_model", "py311-boosting",
             "mlflow.lightgbm classifier (needs libgomp1 in the image)"),
    ZooModel("tensor", "devstack.zoo.tensor_model", "py311-boosting",
             "PythonModel, float32 tensor signature (-1, 4) -> (-1, 1), numpy in and out (a PyTorch stand-in)"),
    ZooModel("torch", "devstack.zoo.torch_model", "py311-torch-cpu",
             "mlflow.pytorch nn.Module trained with torch's CPU build: requirement torch==2.13.0+cpu, float32 out"),
    ZooModel("torch-env-sklearn", "devstack.zoo.torch_env_sklearn_model", "py311-torch-cpu",
             "mlflow.sklearn pipeline logged from the torch venv, requirements inferred: torch==2.13.0+cpu captured, "
             "never imported"),
    ZooModel("onnx", "devstack.zoo.onnx_model", "py311-boosting",
             "mlflow.onnx graph served by onnxruntime: float32 (n, 4) in, {'probabilities': float32 (n, 2)} out"),
    ZooModel("catboost", "devstack.zoo.catboost_model", "py311-boosting",
             "mlflow.catboost classifier with a categorical string column"),
    ZooModel("large", "devstack.zoo.large_model", "py311-boosting",
             "PythonModel with a 1.1 GB weights artifact read whole into memory (needs a pod limit over 1 GiB)"),
    ZooModel("params", "devstack.zoo.params_model", "py313-mlflow-newest",
             "PythonModel with a params schema (scale, threshold, positive_label)"),
    ZooModel("legacy-wrapper", "devstack.zoo.legacy_wrapper", "py39-mlflow210",
             "PythonModel wrapper, two joblib artifacts + code_path, Python 3.9, MLflow 2.10, pandas 2.0.3, "
             "numpy 1.24.3; answers {'predictions': [{score, risk_level, timestamp}]}, timestamp non-deterministic"),
)}


@dataclass(frozen=True)
class ModelRef:
    """A registered zoo model version and where it came from."""

    key: str
    name: str
    version: str
    run_id: str
    python_version: str  # full, e.g. 3.9.18
    mlflow_version: str
    env: ModelEnv

    @property
    def python_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def trainer_env(tracking_uri: str) -> dict[str, str]:
    """The environment a trainer runs in: the repo importable, nothing of this project's venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("MLFLOW_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_DISABLE_TELEMETRY="true",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONDONTWRITEBYTECODE="1")
    return env


def train(key: str, tracking_uri: str, name: str | None = None, seed: int = 7) -> ModelRef:
    """Train zoo model `key` in its environment and register a new version of `name` (default zoo-KEY)."""
    model = ZOO[key]
    env = ensure_env(model.env)
    result = env.run("-m", model.trainer, "--tracking-uri", tracking_uri, "--name", name or f"zoo-{key}",
                     "--seed", str(seed), env=trainer_env(tracking_uri), timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise InfraError(f"zoo trainer {model.trainer} printed no result:\n{result.stdout[-2000:]}\n"
                         f"{result.stderr[-2000:]}")
    info = json.loads(lines[-1][len(RESULT_PREFIX):])
    return ModelRef(key, info["name"], info["version"], info["run_id"], info["python_version"],
                    info["mlflow_version"], env)


def train_all(tracking_uri: str, keys: list[str] | None = None, prefix: str = "zoo-",
              workers: int = 2) -> dict[str, ModelRef]:
    """Every zoo model (or `keys`) registered as `prefix + key`; envs are built first, one at a time."""
    keys = list(keys or ZOO)
    for env_name in dict.fromkeys(ZOO[key].env for key in keys):
        ensure_env(env_name)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(train, key, tracking_uri, prefix + key) for key in keys}
        return {key: future.result() for key, future in futures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--prefix", default="zoo-")
    parser.add_argument("keys", nargs="*", help=f"models to train (default: all of {', '.join(ZOO)})")
    args = parser.parse_args(argv)
    if set(args.keys) - set(ZOO):
        parser.error(f"unknown zoo models: {', '.join(sorted(set(args.keys) - set(ZOO)))}")
    for key, ref in train_all(args.tracking_uri, args.keys or None, args.prefix).items():
        print(f"{key}\t{ref.model_uri}\tPython {ref.python_version}\tMLflow {ref.mlflow_version}\t{ref.env.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
