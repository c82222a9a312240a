"""Train the credit-risk example, log it to MLflow and register a new version.

    python -m examples.credit_risk.train --tracking-uri http://127.0.0.1:5000 [--flavor sklearn]

Two flavours of the same model, because users log both ways:
- `pyfunc`: a custom `PythonModel` wrapper with two artifacts (preprocessor, estimator) and its
  module shipped through `code_paths`; returns a score and a risk level per row.
- `sklearn`: one plain `mlflow.sklearn` pipeline (ColumnTransformer + GradientBoosting).
The new version gets the alias (default `production`) and, unless told not to, the legacy
`Production` stage with older versions archived.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

import joblib
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from examples.credit_risk.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, input_example, make_applications

HERE = Path(__file__).resolve().parent
WRAPPER_FILE = HERE / "credit_risk_wrapper.py"
MODEL_NAMES = {"pyfunc": "credit-risk", "sklearn": "credit-risk-sklearn"}

# Pinned explicitly: inferred requirements pick up whatever the training venv has (pytest, psutil).
PIP_REQUIREMENTS = [
    "mlflow==3.17.2",
    "scikit-learn==1.9.1",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "cloudpickle==3.1.3",
    "joblib==1.6.0",
]
SKLEARN_EXTRA_REQUIREMENTS = ["skops==0.16.0"]
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def _preprocessor() -> ColumnTransformer:
    return ColumnTransformer([
        ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
    ])


def _estimator(seed: int) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=seed)


def _wrapper_class():
    """Import the wrapper by its top-level name, as `code_paths` will make it importable when served.

    cloudpickle records the class by module name; importing it as `examples.credit_risk...` here
    would record a module that does not exist inside the served model.
    """
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("credit_risk_wrapper").CreditRiskModel


def log_pyfunc(seed: int = 7) -> mlflow.models.model.ModelInfo:
    features, labels = make_applications(seed=seed)
    preprocessor = _preprocessor().fit(features)
    estimator = _estimator(seed).fit(preprocessor.transform(features), labels)
    example = input_example()
    wrapper = _wrapper_class()()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"preprocessor": Path(tmp) / "preprocessor.joblib", "estimator": Path(tmp) / "estimator.joblib"}
        joblib.dump(preprocessor, paths["preprocessor"])
        joblib.dump(estimator, paths["estimator"])

        class _Context:  # the output signature comes from a real prediction
            artifacts = {key: str(path) for key, path in paths.items()}

        wrapper.load_context(_Context())
        signature = infer_signature(example, wrapper.predict(None, example))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            artifacts={key: str(path) for key, path in paths.items()},
            code_paths=[str(WRAPPER_FILE)],
            signature=signature,
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
        )


def log_sklearn(seed: int = 7) -> mlflow.models.model.ModelInfo:
    features, labels = make_applications(seed=seed)
    pipeline = Pipeline([("preprocess", _preprocessor()), ("classify", _estimator(seed))]).fit(features, labels)
    example = input_example()
    return mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(example, pipeline.predict(example)),
        input_example=example,
        pip_requirements=PIP_REQUIREMENTS + SKLEARN_EXTRA_REQUIREMENTS,
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )


def train_and_register(tracking_uri: str, flavor: str = "pyfunc", name: str | None = None,
                       alias: str | None = "production", stage: str | None = "Production",
                       seed: int = 7, tags: dict[str, str] | None = None):
    """Log a new run, register it as a new version of `name`, point alias and stage at it."""
    name = name or MODEL_NAMES[flavor]
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("credit-risk")
    with mlflow.start_run(run_name=f"train-{flavor}"):
        mlflow.log_params({"flavor": flavor, "seed": seed})
        info = log_pyfunc(seed) if flavor == "pyfunc" else log_sklearn(seed)
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    client = MlflowClient(tracking_uri)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    if stage:
        client.transition_model_version_stage(name, version.version, stage, archive_existing_versions=True)
    return client.get_model_version(name, version.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--flavor", choices=sorted(MODEL_NAMES), default="pyfunc")
    parser.add_argument("--name", help="registered model name (default: credit-risk[-sklearn])")
    parser.add_argument("--alias", default="production", help="alias to point at the new version ('' for none)")
    parser.add_argument("--stage", default="Production", help="legacy stage to set ('' for none)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    version = train_and_register(args.tracking_uri, args.flavor, args.name, args.alias or None,
                                 args.stage or None, args.seed)
    print(f"registered {version.name} version {version.version} (run {version.run_id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
