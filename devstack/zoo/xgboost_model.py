"""Zoo trainer: an XGBoost classifier logged with `mlflow.xgboost`."""
from __future__ import annotations

from devstack.zoo.common import make_data, parse_args, pins, register_flavor


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-xgboost", argv)
    import mlflow.xgboost
    import xgboost

    features, labels = make_data(args.seed)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=args.seed).fit(features, labels)
    # xgboost-cpu: the `xgboost` module without the CUDA/NCCL wheels `xgboost` pulls in on Linux.
    requirements = pins("mlflow", "xgboost-cpu", "numpy", "pandas", "scipy", "scikit-learn")
    return register_flavor(args, mlflow.xgboost, model, features.head(3), requirements)


if __name__ == "__main__":
    main()
