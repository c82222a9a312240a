"""Zoo models are registered on a real MLflow server the way their users log them, and load and predict
again inside their own environment (not this project's venv).

Two modules import these tests, each naming its models in KEYS, so each half of the zoo is checked in the
worker that trains it for its pipeline run (tests/parallel.py): tests/devstack/test_model_zoo.py (the
classic flavors) and tests/devstack/test_model_zoo_neural.py (PyTorch, torch's capture, the 1.1 GB model).
Only MLmodel and requirements.txt are downloaded to read a version; each model is downloaded whole once,
to load it."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow.artifacts
import pytest
import yaml

from devstack.model_zoo import ModelRef

# Run by each env's own Python: load every model given (argv: a download directory, then the model
# URIs), predict its input example, print JSON. Downloaded into the test's own directory: without a
# dst_path MLflow downloads into a new /tmp directory that nothing removes (1.1 GB a run for the large
# model, until a full disk made the test cluster's kubelet delete its pause image).
LOAD_AND_PREDICT = """
import json, sys, time
import mlflow.artifacts, mlflow.pyfunc
from mlflow.models import Model

def jsonable(value):
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if hasattr(value, "to_dict"):
        return value.to_dict(orient="list") if hasattr(value, "columns") else value.tolist()
    return value.tolist() if hasattr(value, "tolist") else value

out = {}
for index, uri in enumerate(sys.argv[2:]):
    path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=f"{sys.argv[1]}/{index}")
    example = Model.load(path).load_input_example(path)
    model = mlflow.pyfunc.load_model(path)
    first = jsonable(model.predict(example))
    time.sleep(0.01)
    out[uri] = {"first": first, "second": jsonable(model.predict(example)), "rows": len(example)}
    if model.metadata.get_params_schema() is not None:
        out[uri]["scaled"] = jsonable(model.predict(example, params={"scale": 0.0}))
print("PREDICTIONS " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def zoo_models(request, zoo) -> dict[str, ModelRef]:
    """The importing module's half of the zoo (its KEYS), trained and registered once per session."""
    return zoo.get(request.module.KEYS)


def _source(ref: ModelRef, tracking_uri: str) -> str:
    return mlflow.MlflowClient(tracking_uri).get_model_version_download_uri(ref.name, ref.version)


@pytest.fixture(scope="module")
def registered(zoo_models, mlflow_sqlite, tmp_path_factory) -> dict[str, tuple[dict, list[str]]]:
    """{key: (its MLmodel, its requirements.txt lines)}, read through the server (no process-wide
    tracking or registry URI is set)."""
    root = tmp_path_factory.mktemp("zoo-registered")

    def read(ref: ModelRef, name: str) -> str:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"{_source(ref, mlflow_sqlite.url)}/{name}",
                                                   dst_path=str(root / ref.key), tracking_uri=mlflow_sqlite.url)
        return Path(path).read_text()

    return {key: (yaml.safe_load(read(ref, "MLmodel")), read(ref, "requirements.txt").split())
            for key, ref in zoo_models.items()}


def test_every_zoo_model_is_registered_with_signature_example_and_pins(zoo_models, registered, mlflow_sqlite):
    client = mlflow.MlflowClient(mlflow_sqlite.url)
    for key, ref in zoo_models.items():
        mlmodel, requirements = registered[key]
        assert client.get_model_version(ref.name, ref.version).status == "READY", key
        assert mlmodel["mlflow_version"] == ref.mlflow_version, key
        assert mlmodel["flavors"]["python_function"]["python_version"] == ref.python_version, key
        assert mlmodel["signature"]["inputs"] and "saved_input_example_info" in mlmodel, key
        assert requirements and all("==" in line for line in requirements), (key, requirements)
        assert f"mlflow=={ref.mlflow_version}" in requirements, key


def _signature(mlmodel: dict, part: str) -> list[dict]:
    return json.loads(mlmodel["signature"][part])


def _artifact_bytes(ref: ModelRef, tracking_uri: str, uri: str | None = None) -> int:
    """Sizes of the version's `artifacts/` files, listed by the server, none downloaded."""
    uri = uri or f"{_source(ref, tracking_uri)}/artifacts"
    return sum(_artifact_bytes(ref, tracking_uri, f"{uri}/{Path(info.path).name}") if info.is_dir else info.file_size
               for info in mlflow.artifacts.list_artifacts(artifact_uri=uri, tracking_uri=tracking_uri))


# What each zoo model promises of its flavor, signature, Python, MLflow and pins: (MLmodel, requirements,
# ref, tracking URI) -> whether it holds.
SHAPES: dict[str, Callable[[dict, list[str], ModelRef, str], bool]] = {
    "sklearn": lambda m, req, ref, _: "sklearn" in m["flavors"] and ref.python_minor == "3.13",
    "xgboost": lambda m, req, ref, _: "xgboost" in m["flavors"] and ref.python_minor == "3.11",
    "lightgbm": lambda m, req, ref, _: "lightgbm" in m["flavors"],
    "tensor": lambda m, req, ref, _: _signature(m, "inputs") == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}],
    # the CPU build: PyPI does not publish it
    "torch": lambda m, req, ref, _: "pytorch" in m["flavors"] and "torch==2.13.0+cpu" in req,
    # inferred by MLflow from the venv, never imported by the model
    "torch-env-sklearn": lambda m, req, ref, _: "sklearn" in m["flavors"] and "torch==2.13.0+cpu" in req,
    "onnx": lambda m, req, ref, _: "onnx" in m["flavors"] and _signature(m, "outputs") == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "probabilities"}],
    "catboost": lambda m, req, ref, _: "catboost" in m["flavors"] and {
        "name": "region", "type": "string", "required": True} in _signature(m, "inputs"),
    "large": lambda m, req, ref, uri: _artifact_bytes(ref, uri) > 1_000_000_000,
    "params": lambda m, req, ref, _: {p["name"] for p in _signature(m, "params")} == {
        "scale", "threshold", "positive_label"},
    "legacy-wrapper": lambda m, req, ref, _: (
        (ref.python_minor, ref.mlflow_version[:5]) == ("3.9", "2.10.") and bool(m["flavors"]["python_function"]["code"])
        and set(m["flavors"]["python_function"]["artifacts"]) == {"scaler", "classifier"}
        and [o["name"] for o in _signature(m, "outputs")] == ["predictions"]),
}


def test_flavours_and_shapes_are_what_the_zoo_promises(zoo_models, registered, mlflow_sqlite):
    broken = [key for key, ref in zoo_models.items() if not SHAPES[key](*registered[key], ref, mlflow_sqlite.url)]
    assert not broken, {key: registered[key] for key in broken}


def test_each_model_predicts_again_in_its_own_environment(zoo_models, mlflow_sqlite, tmp_path):
    by_env: dict = {}
    for ref in zoo_models.values():
        by_env.setdefault(ref.env.path, (ref.env, []))[1].append(ref)
    answers = {}
    for number, (env, refs) in enumerate(by_env.values()):
        result = env.run("-c", LOAD_AND_PREDICT, str(tmp_path / f"env-{number}"), *(ref.model_uri for ref in refs),
                         env={"MLFLOW_TRACKING_URI": mlflow_sqlite.url, "MLFLOW_DISABLE_TELEMETRY": "true",
                              "PATH": "/usr/bin:/bin"})
        line = next(line for line in result.stdout.splitlines() if line.startswith("PREDICTIONS "))
        answers.update(json.loads(line[len("PREDICTIONS "):]))
    answers = {key: answers[ref.model_uri] for key, ref in zoo_models.items()}
    broken = [key for key, answer in answers.items() if not ANSWERS.get(key, _deterministic)(answer)]
    assert not broken, {key: answers[key] for key in broken}


def _deterministic(answer: dict) -> bool:
    return answer["first"] == answer["second"]


def _legacy(answer: dict) -> bool:
    """Its score is deterministic, its timestamp (the time of prediction) is not."""
    first, second = answer["first"]["predictions"], answer["second"]["predictions"]
    return (len(first) == answer["rows"] and set(first[0]) == {"score", "risk_level", "timestamp"}
            and [row["score"] for row in first] == [row["score"] for row in second]
            and first[0]["timestamp"] != second[0]["timestamp"])


# What each model's answer to its input example must be beyond deterministic (the default).
ANSWERS: dict[str, Callable[[dict], bool]] = {
    "tensor": lambda a: _deterministic(a) and len(a["first"]) == 3 and all(
        len(row) == 1 and 0 <= row[0] <= 1 for row in a["first"]),
    "params": lambda a: _deterministic(a) and a["scaled"]["score"] == [0.0, 0.0, 0.0],
    "onnx": lambda a: _deterministic(a) and len(a["first"]["probabilities"]) == 3 and all(
        abs(sum(row) - 1) < 1e-6 for row in a["first"]["probabilities"]),
    "legacy-wrapper": _legacy,
}
