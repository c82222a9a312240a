"""Zoo trainer: the production guide's `PythonModel` wrapper (MLflow 2.10, Python 3.9, pandas 2.0, numpy 1.24).

Two joblib artifacts (scaler, classifier), the wrapper module shipped with `code_path`, exact
`pip_requirements`, and an answer of `{"predictions": [{"score", "risk_level", "timestamp"}]}`; the
signature is inferred from a real answer (2.10 records the output as an Array of Objects).
"""
from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register

CODE = Path(__file__).resolve().parent / "legacy_code"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-legacy-wrapper", argv)
    import joblib
    import mlflow.pyfunc
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sys.path.insert(0, str(CODE))  # pickled by its top-level name, as code_path makes it importable
    wrapper = importlib.import_module("risk_model")
    features, labels = make_data(args.seed)
    scaler = StandardScaler().fit(features[wrapper.FEATURES])
    classifier = LogisticRegression().fit(scaler.transform(features[wrapper.FEATURES]), labels)
    example = features.head(3)
    requirements = pins("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "joblib", "cloudpickle")

    def log():
        tmp = Path(tempfile.mkdtemp(prefix="zoo-legacy-"))
        artifacts = {"scaler": str(tmp / "scaler.joblib"), "classifier": str(tmp / "classifier.joblib")}
        joblib.dump(scaler, artifacts["scaler"])
        joblib.dump(classifier, artifacts["classifier"])
        loaded = wrapper.RiskModel()
        loaded.load_context(type("Context", (), {"artifacts": artifacts})())
        return mlflow.pyfunc.log_model(**log_kwargs(
            mlflow.pyfunc.log_model, name="model", python_model=wrapper.RiskModel(), artifacts=artifacts,
            code_paths=[str(CODE / "risk_model.py")], signature=infer_signature(example, loaded.predict(None, example)),
            input_example=example, pip_requirements=requirements))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
