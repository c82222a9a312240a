"""What every zoo trainer shares: its command line, generated data, version-aware log arguments, registering.

Written for Python 3.9 and MLflow 2.10 as well as the newest MLflow (3.x renamed `artifact_path` to
`name` and 2.12 renamed `code_path` to `code_paths`): `log_kwargs` maps the names to the env's MLflow.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import platform

import numpy as np
import pandas as pd

FEATURES = ("age", "income", "debt_ratio", "num_accounts")
RESULT_PREFIX = "ZOO-RESULT "


def parse_args(doc: str, default_name: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--name", default=default_name, help=f"registered model name (default {default_name})")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def make_data(seed: int = 7, rows: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """Loan applications: age and num_accounts (int64), income and debt_ratio (float64); label 0/1."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame({
        "age": rng.randint(18, 80, rows).astype("int64"),
        "income": rng.lognormal(10.5, 0.5, rows),
        "debt_ratio": rng.uniform(0.0, 1.5, rows),
        "num_accounts": rng.randint(0, 12, rows).astype("int64"),
    })
    logit = 2.5 * frame["debt_ratio"] - frame["income"] / 40000.0 + 0.15 * frame["num_accounts"] - 0.5
    labels = (logit + rng.normal(0.0, 0.5, rows) > 0).astype("int64").to_numpy()
    return frame, labels


def pins(*distributions: str) -> list[str]:
    """`dist==version` as installed in the env the trainer runs in (what a team pins when logging)."""
    return [f"{dist}=={importlib.metadata.version(dist)}" for dist in distributions]


def log_kwargs(log_model, **kwargs) -> dict:
    """`kwargs` with `name`/`code_paths` renamed for the installed MLflow's `log_model`."""
    accepted = inspect.signature(log_model).parameters
    renames = {"name": "artifact_path", "code_paths": "code_path"}
    return {key if key in accepted else renames.get(key, key): value for key, value in kwargs.items()}


def train_and_register(args: argparse.Namespace, log) -> dict:
    """Run `log()` (returns ModelInfo) in a new run, register a new version of `args.name`, print the result."""
    import mlflow

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("model-zoo")
    with mlflow.start_run(run_name=args.name) as run:
        mlflow.log_param("seed", args.seed)
        info = log()
    version = mlflow.register_model(info.model_uri, args.name)
    result = {"name": args.name, "version": str(version.version), "run_id": run.info.run_id,
              "model_uri": f"models:/{args.name}/{version.version}", "mlflow_version": mlflow.__version__,
              "python_version": platform.python_version()}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return result


def register_flavor(args: argparse.Namespace, flavor, model, example: pd.DataFrame, requirements: list[str]) -> dict:
    """Log a fitted `model` with `flavor.log_model` (signature from its predictions on `example`), register it."""
    from mlflow.models import infer_signature

    def log():
        return flavor.log_model(model, **log_kwargs(
            flavor.log_model, name="model", signature=infer_signature(example, model.predict(example)),
            input_example=example, pip_requirements=requirements))

    return train_and_register(args, log)
