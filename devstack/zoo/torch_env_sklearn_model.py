"""Zoo trainer: a scikit-learn model logged with `mlflow.sklearn` from the PyTorch training box's venv,
its requirements inferred by MLflow (no `pip_requirements`), as a notebook logs it.

The venv holds torch's CPU build beside scikit-learn, and MLflow's inference captures
`torch==2.13.0+cpu` into the requirements of a model that never imports it: the image build needs the
torch index for nothing, and the load gate names torch as carried for nothing.
"""
from __future__ import annotations

from devstack.zoo.common import log_kwargs, make_data, parse_args, train_and_register


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-torch-env-sklearn", argv)
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = make_data(args.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)
    example = features.head(3)

    def log():
        return mlflow.sklearn.log_model(model, **log_kwargs(
            mlflow.sklearn.log_model, name="model", signature=infer_signature(example, model.predict(example)),
            input_example=example))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
