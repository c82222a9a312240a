"""Zoo trainer: a CatBoost classifier logged with `mlflow.catboost`, with a categorical string column.

CatBoost reads categorical features as strings, so the signature holds a `string` column beside the
numbers: the served model must get it as text, not as a number or a category code.
"""
from __future__ import annotations

from devstack.zoo.common import make_data, parse_args, pins, register_flavor

REGIONS = ("north", "south", "east", "west")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-catboost", argv)
    import catboost
    import mlflow.catboost

    features, labels = make_data(args.seed)
    features["region"] = [REGIONS[i % len(REGIONS)] for i in range(len(features))]
    model = catboost.CatBoostClassifier(iterations=30, depth=4, random_seed=args.seed, verbose=False,
                                        cat_features=["region"], allow_writing_files=False)
    requirements = pins("mlflow", "catboost", "numpy", "pandas", "scipy")
    return register_flavor(args, mlflow.catboost, model.fit(features, labels), features.head(3), requirements)


if __name__ == "__main__":
    main()
