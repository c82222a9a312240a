"""Small pyfunc models that each fail to load in the serving image in one known way.

Shipped with each model through `code_paths` and imported by the top-level name `load_failures`,
so nothing here may import from the repository.
"""
from __future__ import annotations

import types
from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc


class Echo(mlflow.pyfunc.PythonModel):
    """A model that loads fine: returns its input doubled (the gate's control case)."""

    def predict(self, context, model_input, params=None):
        return model_input * 2


class NeedsArtifact(Echo):
    """`load_context` reads an artifact key the model was logged without."""

    def load_context(self, context):
        self.vocabulary = Path(context.artifacts["tokenizer"]).read_text()


class WritesNextToArtifacts(Echo):
    """`load_context` writes a cache file next to its artifacts (read-only in a pod)."""

    def load_context(self, context):
        Path(context.artifacts["weights"]).with_suffix(".cache").write_text("warm")


class FetchesFromTracking(Echo):
    """`load_context` downloads from the tracking server instead of using logged artifacts."""

    def load_context(self, context):
        self.extra = mlflow.artifacts.download_artifacts("models:/some-other-model/1")


class Python310Code:
    """Unpickles like a function pickled by Python 3.10 into 3.11: CodeType got 16 arguments."""

    def __reduce__(self):
        return types.CodeType, (0, 0, 0, 0, 0, 0, b"", (), (), (), "train.py", "f", 1, b"", (), ())


class PickledByOtherPython(Echo):
    def __init__(self):
        self.compiled = Python310Code()
