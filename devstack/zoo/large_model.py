"""Zoo trainer: a `PythonModel` whose weights artifact is over 1 GB (random float32, generated here).

Its `load_context` reads the whole array into memory, as a framework loads its weights, so the served
model's resident memory is the artifact's size plus the runtime: what the load gate measures against
the pod's memory limit, and what the startup probe must wait for. ZOO_LARGE_BYTES sets the size.
"""
from __future__ import annotations

import os

import numpy as np

from devstack.zoo.common import log_kwargs, make_data, parse_args, pins, train_and_register

DEFAULT_BYTES = 1_100_000_000
HIDDEN = 8
SCALE = (50.0, 50000.0, 1.0, 6.0)  # of the features (make_data): the network's inputs near 1


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, "zoo-large", argv)
    import tempfile

    import mlflow.pyfunc
    from mlflow.models import infer_signature

    class LargeModel(mlflow.pyfunc.PythonModel):
        """float64 features -> a float64 score; the first weights are the network, the rest ballast."""

        def load_context(self, context):
            self.weights = np.load(context.artifacts["weights"])  # all of it, into memory

        def predict(self, context, model_input, params=None):
            x = np.asarray(model_input, dtype=np.float64)
            features = len(SCALE)
            w1 = self.weights[:features * HIDDEN].reshape(features, HIDDEN).astype(np.float64)
            w2 = self.weights[features * HIDDEN:(features + 1) * HIDDEN].astype(np.float64)
            hidden = np.tanh(x / np.asarray(SCALE) @ w1)
            return 1 / (1 + np.exp(-(hidden @ w2)))

    frame, _ = make_data(args.seed)
    size = int(os.environ.get("ZOO_LARGE_BYTES", DEFAULT_BYTES))
    weights = np.random.default_rng(args.seed).standard_normal(size // 4, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="zoo-large-") as tmp:
        path = os.path.join(tmp, "weights.npy")
        np.save(path, weights)
        del weights
        model = LargeModel()
        model.load_context(type("Context", (), {"artifacts": {"weights": path}})())
        example = frame.head(3)
        signature = infer_signature(example, model.predict(None, example))
        del model

        def log():
            return mlflow.pyfunc.log_model(**log_kwargs(
                mlflow.pyfunc.log_model, name="model", python_model=LargeModel(), artifacts={"weights": path},
                signature=signature, input_example=example, pip_requirements=pins("mlflow", "numpy", "cloudpickle")))

        return train_and_register(args, log)


if __name__ == "__main__":
    main()
