"""ci/registry/model_meta.py: a model's contract from its files (no model loaded, no registry)."""
from __future__ import annotations

import pytest
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, Schema

from ci.errors import CheckFailed, ConfigError
from ci.registry.model_meta import from_dir, from_files, load, safe_reason

SIGNATURE = ModelSignature(Schema([ColSpec("double", "a")]), Schema([ColSpec("double", "score")]))


@pytest.mark.parametrize(("message", "safe"), [
    pytest.param("Failed to enforce schema of data '   a\\n0  SECRET' with schema 'a double'. Error: "
                 "ValueError('x SECRET')", "Failed to enforce schema.", id="data-and-error-removed"),
    pytest.param("Invalid input. Error: ValueError('SECRET')", "Invalid input.", id="error-removed"),
    pytest.param("first line\nsecond SECRET line", "first line", id="first-line-only"),
    pytest.param("x" * 400, "x" * 300, id="cut-at-300"),
    pytest.param("Incompatible input types for column a.", "Incompatible input types for column a.", id="kept"),
])
def test_safe_reason(message, safe):
    assert safe_reason(message) == safe


def test_safe_reason_with_mlflow_schema_text():
    schema = Schema([ColSpec("double", "a")])
    message = (f"Failed to enforce schema of data '   a\\n0  SECRET' with schema '{schema}'. "
               "Error: ValueError('SECRET')")
    assert safe_reason(message) == "Failed to enforce schema."


def test_from_files_reads_signature_and_serving_example():
    mlmodel = Model(signature=SIGNATURE).to_yaml()
    meta = from_files("dir", {"MLmodel": mlmodel, "serving_input_example.json": '{"inputs": [1]}'})
    assert meta.signature == SIGNATURE
    assert (meta.source, meta.example, meta.serving_example, meta.example_error) == ("dir", None, {"inputs": [1]},
                                                                                      None)


def test_a_model_logged_before_serving_examples_gets_its_request_body_from_the_input_example():
    """MLflow 2.10 wrote only input_example.json (pandas "split" orient), no serving_input_example.json."""
    model = Model(signature=SIGNATURE)
    model.saved_input_example_info = {"artifact_path": "input_example.json", "type": "dataframe",
                                      "pandas_orient": "split"}
    example = '{"columns": ["a"], "data": [[1.5], [2.5]]}'
    meta = from_files("v1", {"MLmodel": model.to_yaml(), "input_example.json": example})
    assert meta.serving_example == {"dataframe_split": {"columns": ["a"], "data": [[1.5], [2.5]]}}
    assert meta.example_error is None and list(meta.example["a"]) == [1.5, 2.5]


def test_from_files_without_mlmodel():
    with pytest.raises(CheckFailed, match="x has no MLmodel file: is it an MLflow model"):
        from_files("x", {"input_example.json": "{}"})


def test_from_dir_missing(tmp_path):
    with pytest.raises(ConfigError, match="model directory .*absent does not exist"):
        from_dir(tmp_path / "absent")


@pytest.mark.parametrize(("uri", "name", "version", "message"), [
    pytest.param(None, None, None, "which model?", id="nothing"),
    pytest.param(None, "m", "latest", "which model?", id="version-not-a-number"),
    pytest.param("models:/m/", None, None, "which model?", id="uri-without-version"),
    pytest.param("models:/m@production", None, None, "which model?", id="alias-uri"),
    pytest.param("models:/m/3", None, None, "reading a registry version needs MLFLOW_TRACKING_URI", id="no-api"),
    pytest.param(None, "m", "3", "reading a registry version needs MLFLOW_TRACKING_URI", id="name-version-no-api"),
])
def test_load_configuration_errors(uri, name, version, message):
    with pytest.raises(ConfigError, match=message):
        load(uri, name, version, None)
