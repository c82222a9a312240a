"""A model's contract as the gates, the smoke check and the load test read it: signature and input
example, from the MLmodel file and the two example files, without loading the model.

Why not `mlflow.pyfunc.load_model`: these jobs need only the contract, and loading would need the
model's requirements in the job's own Python. (The load gate computes the model's own answer inside
the built image, see `ci.gates.load.expected_answer`.)
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed, ConfigError

MLMODEL = "MLmodel"
FILES = (MLMODEL, "input_example.json", "serving_input_example.json")


@dataclass(frozen=True)
class ModelMeta:
    source: str  # for messages: "credit-risk version 3" or a directory
    signature: Any  # mlflow.models.ModelSignature | None
    example: Any  # the input example as MLflow loads it (a DataFrame for tabular models) | None
    serving_example: dict | None  # the request body MLflow wrote for the example: {"dataframe_split": ...}
    example_error: str | None = None  # why the example could not be read against the signature


def from_files(source: str, texts: dict[str, str]) -> ModelMeta:
    """Parse the files of `FILES` that exist (by name -> text)."""
    import yaml
    from mlflow.models import Model

    if MLMODEL not in texts:
        raise CheckFailed(f"{source} has no MLmodel file: is it an MLflow model?")
    model = Model.from_dict(yaml.safe_load(texts[MLMODEL]))
    example, error = None, None
    if model.saved_input_example_info and model.saved_input_example_info.get("artifact_path") in texts:
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in texts.items():
                (Path(tmp) / name).write_text(text)
            try:  # MLflow casts the example to the signature's types here
                example = model.load_input_example(tmp)
            except Exception as exc:  # noqa: BLE001 - reported by the signature gate
                error = safe_reason(str(getattr(exc, "message", exc)))
    serving = texts.get("serving_input_example.json")
    return ModelMeta(source, model.signature, example, json.loads(serving) if serving else serving_body(example),
                     error)


def serving_body(example: Any) -> dict | None:
    """The request body for an input example, as MLflow writes `serving_input_example.json` today: models
    logged by older MLflow (2.10 among them) have only `input_example.json`."""
    from mlflow.models import convert_input_example_to_serving_input

    try:
        text = convert_input_example_to_serving_input(example)
    except Exception:  # noqa: BLE001 - an example MLflow cannot serve is reported as missing
        return None
    return json.loads(text) if text else None


def safe_reason(message: str) -> str:
    """An MLflow schema error without the data it may quote (`of data '...'`, `Error: ValueError(...)`)."""
    # the schema text has quotes of its own: it ends at the quote before ". Error: " or the end
    message = re.sub(r" of data '.*' with schema '.*?'(?=\.? Error: |\.?\s*$)", "", message, count=1,
                     flags=re.DOTALL)
    return message.split(" Error: ")[0].splitlines()[0][:300]


def from_dir(path: Path) -> ModelMeta:
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"model directory {path} does not exist")
    present = (name for name in FILES if (path / name).is_file())
    return from_files(str(path), {name: (path / name).read_text() for name in present})


def from_registry(api: MlflowApi, name: str, version: str) -> ModelMeta:
    uri = api.download_uri(name, version)
    return from_files(f"{name} version {version}", api.read_model_files(uri, FILES))


def load(model_uri: str | None, name: str | None, version: str | None, api: MlflowApi | None) -> ModelMeta:
    """The candidate: a directory or `models:/name/version` URI if given, else `name` + `version`."""
    if model_uri and not model_uri.startswith("models:/"):
        return from_dir(Path(model_uri))
    if model_uri:
        name, _, version = model_uri.removeprefix("models:/").partition("/")
    if not (name and version and version.isdigit()):
        raise ConfigError("which model? pass --model-uri (a directory or models:/NAME/VERSION) or "
                          "MODEL_NAME and MODEL_VERSION (from the resolve job's dotenv)")
    if api is None:
        raise ConfigError("reading a registry version needs MLFLOW_TRACKING_URI")
    return from_registry(api, name, version)
