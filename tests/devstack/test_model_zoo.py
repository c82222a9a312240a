"""Every zoo model is registered on a real MLflow server the way its users log it, and loads and
predicts again inside its own environment (not this project's venv)."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow.artifacts
import pytest
import yaml

from devstack.model_zoo import ZOO, ModelRef

pytestmark = pytest.mark.zoo

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


def _downloaded(ref: ModelRef, tracking_uri: str, tmp_path):
    """The version's files, through the server (no process-wide tracking or registry URI is set)."""
    source = mlflow.MlflowClient(tracking_uri).get_model_version_download_uri(ref.name, ref.version)
    path = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp_path / ref.key),
                                               tracking_uri=tracking_uri)
    return path, yaml.safe_load(Path(path, "MLmodel").read_text())


def test_every_zoo_model_is_registered_with_signature_example_and_pins(model_zoo, mlflow_sqlite, tmp_path):
    assert set(model_zoo) == set(ZOO)
    client = mlflow.MlflowClient(mlflow_sqlite.url)
    for key, ref in model_zoo.items():
        assert client.get_model_version(ref.name, ref.version).status == "READY", key
        path, mlmodel = _downloaded(ref, mlflow_sqlite.url, tmp_path)
        assert mlmodel["mlflow_version"] == ref.mlflow_version, key
        assert mlmodel["flavors"]["python_function"]["python_version"] == ref.python_version, key
        assert mlmodel["signature"]["inputs"] and "saved_input_example_info" in mlmodel, key
        requirements = Path(path, "requirements.txt").read_text().split()
        assert requirements and all("==" in line for line in requirements), (key, requirements)
        assert f"mlflow=={ref.mlflow_version}" in requirements, key
    assert {ref.python_minor for ref in model_zoo.values()} >= {"3.9", "3.11", "3.13"}


def test_flavours_and_shapes_are_what_the_zoo_promises(model_zoo, mlflow_sqlite, tmp_path):
    flavors = {key: _downloaded(ref, mlflow_sqlite.url, tmp_path)[1] for key, ref in model_zoo.items()}
    assert "sklearn" in flavors["sklearn"]["flavors"] and model_zoo["sklearn"].python_minor == "3.13"
    assert "xgboost" in flavors["xgboost"]["flavors"] and "lightgbm" in flavors["lightgbm"]["flavors"]
    tensor = json.loads(flavors["tensor"]["signature"]["inputs"])
    assert tensor == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert "pytorch" in flavors["torch"]["flavors"]
    torch_requirements = Path(_downloaded(model_zoo["torch"], mlflow_sqlite.url, tmp_path / "t")[0],
                              "requirements.txt").read_text().split()
    assert "torch==2.13.0+cpu" in torch_requirements  # the CPU build: PyPI does not publish it
    captured = Path(_downloaded(model_zoo["torch-env-sklearn"], mlflow_sqlite.url, tmp_path / "s")[0],
                    "requirements.txt").read_text().split()
    assert "torch==2.13.0+cpu" in captured  # inferred by MLflow from the venv, never imported by the model
    assert "sklearn" in flavors["torch-env-sklearn"]["flavors"]
    assert "onnx" in flavors["onnx"]["flavors"]
    assert json.loads(flavors["onnx"]["signature"]["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "probabilities"}]
    assert "catboost" in flavors["catboost"]["flavors"]
    catboost_inputs = json.loads(flavors["catboost"]["signature"]["inputs"])
    assert {"name": "region", "type": "string", "required": True} in catboost_inputs
    large = _downloaded(model_zoo["large"], mlflow_sqlite.url, tmp_path / "l")[0]
    assert sum(f.stat().st_size for f in Path(large, "artifacts").rglob("*")) > 1_000_000_000
    assert {p["name"] for p in json.loads(flavors["params"]["signature"]["params"])} == {
        "scale", "threshold", "positive_label"}
    legacy, legacy_ref = flavors["legacy-wrapper"], model_zoo["legacy-wrapper"]
    assert (legacy_ref.python_minor, legacy_ref.mlflow_version[:5]) == ("3.9", "2.10.")
    pyfunc = legacy["flavors"]["python_function"]
    assert pyfunc["code"] and set(pyfunc["artifacts"]) == {"scaler", "classifier"}
    assert [o["name"] for o in json.loads(legacy["signature"]["outputs"])] == ["predictions"]


def test_each_model_predicts_again_in_its_own_environment(model_zoo, mlflow_sqlite, tmp_path):
    by_env: dict = {}
    for ref in model_zoo.values():
        by_env.setdefault(ref.env.path, (ref.env, []))[1].append(ref)
    answers = {}
    for number, (env, refs) in enumerate(by_env.values()):
        result = env.run("-c", LOAD_AND_PREDICT, str(tmp_path / f"env-{number}"), *(ref.model_uri for ref in refs),
                         env={"MLFLOW_TRACKING_URI": mlflow_sqlite.url, "MLFLOW_DISABLE_TELEMETRY": "true",
                              "PATH": "/usr/bin:/bin"})
        line = next(line for line in result.stdout.splitlines() if line.startswith("PREDICTIONS "))
        answers.update(json.loads(line[len("PREDICTIONS "):]))
    for key in ("sklearn", "xgboost", "lightgbm", "tensor", "params", "torch", "torch-env-sklearn", "onnx", "catboost",
                "large"):
        answer = answers[model_zoo[key].model_uri]
        assert answer["first"] == answer["second"], key  # deterministic models
    tensor = answers[model_zoo["tensor"].model_uri]["first"]
    assert len(tensor) == 3 and all(len(row) == 1 and 0 <= row[0] <= 1 for row in tensor)
    assert answers[model_zoo["params"].model_uri]["scaled"]["score"] == [0.0, 0.0, 0.0]
    probabilities = answers[model_zoo["onnx"].model_uri]["first"]["probabilities"]
    assert len(probabilities) == 3 and all(abs(sum(row) - 1) < 1e-6 for row in probabilities)
    legacy = answers[model_zoo["legacy-wrapper"].model_uri]
    first, second = legacy["first"]["predictions"], legacy["second"]["predictions"]
    assert len(first) == legacy["rows"] and set(first[0]) == {"score", "risk_level", "timestamp"}
    assert [row["score"] for row in first] == [row["score"] for row in second]
    assert first[0]["timestamp"] != second[0]["timestamp"]  # time of prediction: non-deterministic
