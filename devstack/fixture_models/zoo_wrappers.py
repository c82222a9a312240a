"""Pyfunc wrappers for the image-environment tests (tests/ci/test_image_env.py).

Shipped with each model through `code_paths` and imported by the top-level name `zoo_wrappers`, so
nothing here may import from the repository, and the model's own libraries are imported only inside
`load_context`/`predict`: the CI job never has them.
"""
from __future__ import annotations

import datetime
import uuid

import mlflow.pyfunc


class ReportsItsLibraries(mlflow.pyfunc.PythonModel):
    """Imports the libraries its requirements pin and answers x * 2 with their versions, so a test sees
    which versions the image really installed (and that lightgbm's OpenMP runtime is there)."""

    def load_context(self, context):
        import importlib

        self.versions = {}
        for module in (context.model_config or {}).get("modules", []):
            self.versions[module] = importlib.import_module(module).__version__

    def predict(self, context, model_input, params=None):
        out = model_input[["x"]].astype("float64") * 2
        for module, version in sorted(self.versions.items()):
            out[f"{module}_version"] = version
        return out


class Timestamped(mlflow.pyfunc.PythonModel):
    """x * 2 plus a per-row timestamp and a random id: two calls never answer the same."""

    def predict(self, context, model_input, params=None):
        out = model_input[["x"]].astype("float64") * 2
        out["timestamp"] = datetime.datetime.now(datetime.timezone.utc).isoformat()  # noqa: UP017 - py3.9 too
        out["request_id"] = [uuid.uuid4().hex for _ in range(len(out))]
        return out
