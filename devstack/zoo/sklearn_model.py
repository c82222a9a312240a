"""Zoo trainer: a scikit-learn pipeline logged with `mlflow.sklearn` (default serialization of the env's MLflow)."""
from __future__ import annotations

import importlib.util

from devstack.zoo.common import make_data, parse_args, pins, register_flavor


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-sklearn", argv)
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = make_data(args.seed)
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(features, labels)
    requirements = pins("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle")
    if importlib.util.find_spec("skops") is not None:  # MLflow 3 saves sklearn models with skops
        requirements += pins("skops")
    return register_flavor(args, mlflow.sklearn, model, features.head(3), requirements)


if __name__ == "__main__":
    main()
