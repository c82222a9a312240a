"""Zoo trainer: a `PythonModel` with a float32 tensor signature, numpy in and out (the shape a PyTorch model takes).

A two-layer network in numpy (weights fitted by a few steps of gradient descent) stands in for torch,
whose Linux wheel on PyPI is the multi-GB CUDA build. Run as `python -m`, the class lives in
`__main__`, so cloudpickle stores it by value: the served model needs numpy and MLflow only.
"""
from __future__ import annotations

import numpy as np

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register


def _fit(x: np.ndarray, y: np.ndarray, seed: int, hidden: int = 8, steps: int = 200) -> dict:
    rng = np.random.RandomState(seed)
    w1, w2 = rng.normal(0, 0.5, (x.shape[1], hidden)), rng.normal(0, 0.5, (hidden, 1))
    for _ in range(steps):
        h = np.tanh(x @ w1)
        p = 1 / (1 + np.exp(-(h @ w2)))
        grad = (p - y[:, None]) / len(x)
        w1 -= 0.5 * x.T @ ((grad @ w2.T) * (1 - h ** 2))
        w2 -= 0.5 * h.T @ grad
    return {"w1": w1.astype(np.float32), "w2": w2.astype(np.float32)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-tensor", argv)
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    class TensorModel(mlflow.pyfunc.PythonModel):
        """float32 (n, 4) -> float32 (n, 1) probabilities."""

        def __init__(self, weights, mean, scale):
            self.weights, self.mean, self.scale = weights, mean, scale

        def predict(self, context, model_input, params=None):
            x = (np.asarray(model_input, dtype=np.float32) - self.mean) / self.scale
            logits = np.tanh(x @ self.weights["w1"]) @ self.weights["w2"]
            return (1 / (1 + np.exp(-logits))).astype(np.float32)

    frame, labels = make_data(args.seed)
    x = frame.to_numpy(dtype=np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    model = TensorModel(_fit((x - mean) / scale, labels, args.seed), mean, scale)
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, x.shape[1]))]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1))]))
    requirements = pins("mlflow", "numpy", "cloudpickle")

    def log():
        return mlflow.pyfunc.log_model(**log_kwargs(
            mlflow.pyfunc.log_model, name="model", python_model=model, signature=signature,
            input_example=x[:3], pip_requirements=requirements))

    return train_and_register(args, log)


if __name__ == "__main__":
    main()
