"""Zoo trainer: a LightGBM classifier logged with `mlflow.lightgbm` (needs libgomp.so.1 where it is served)."""
from __future__ import annotations

from devstack.zoo.common import make_data, parse_args, pins, register_flavor


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-lightgbm", argv)
    import lightgbm
    import mlflow.lightgbm

    features, labels = make_data(args.seed)
    model = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=args.seed, verbose=-1)
    requirements = pins("mlflow", "lightgbm", "numpy", "pandas", "scipy", "scikit-learn")
    return register_flavor(args, mlflow.lightgbm, model.fit(features, labels), features.head(3), requirements)


if __name__ == "__main__":
    main()
