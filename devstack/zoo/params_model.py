"""Zoo trainer: a `PythonModel` whose signature has a params schema (`scale`, `threshold`, `positive_label`)."""
from __future__ import annotations

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register

DEFAULT_PARAMS = {"scale": 1.0, "threshold": 0.5, "positive_label": "review"}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-params", argv)
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    class ThresholdModel(mlflow.pyfunc.PythonModel):
        """A linear score per row, scaled by `scale`; `label` is `positive_label` above `threshold`."""

        def __init__(self, weights, bias):
            self.weights, self.bias = weights, bias

        def predict(self, context, model_input, params=None):
            params = {**DEFAULT_PARAMS, **(params or {})}
            values = model_input[list(self.weights)].to_numpy(dtype="float64")
            score = 1 / (1 + np.exp(-(values @ np.array(list(self.weights.values())) + self.bias)))
            score = np.clip(score * float(params["scale"]), 0.0, 1.0)
            label = np.where(score > float(params["threshold"]), params["positive_label"], "accept")
            return pd.DataFrame({"score": score, "label": label})

    frame, labels = make_data(args.seed)
    rate = float(labels.mean())
    model = ThresholdModel({"debt_ratio": 2.5, "num_accounts": 0.15}, float(np.log(rate / (1 - rate))) - 1.0)
    example = frame.head(3)
    signature = infer_signature(example, model.predict(None, example), params=DEFAULT_PARAMS)
    requirements = pins("mlflow", "numpy", "pandas", "cloudpickle")

    def log():
        return mlflow.pyfunc.log_model(**log_kwargs(
            mlflow.pyfunc.log_model, name="model", python_model=model, signature=signature,
            input_example=example, pip_requirements=requirements))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
