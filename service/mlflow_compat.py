"""Every private or version-dependent MLflow API the service uses, with a fallback per MLflow version.

Supported: MLflow (or mlflow-skinny) 2.10 ... the newest 3.x. The rest of `service/` imports nothing
private from mlflow; it imports these names. Each has a contract test in
tests/service/test_mlflow_compat.py, run against the project's MLflow and (tests/service/
test_compat_envs.py) against the oldest and the newest supported MLflow.

What goes through here, and the fallback per MLflow version:
- SUPPORTED_FORMATS, infer_and_parse_data, parse_csv_input (mlflow.pyfunc.scoring_server): up to
  2.15 that module imports flask, up to 2.20 mlflow.server (which imports flask); without flask,
  MLflow 2.10's code for these three, vendored below, is used (so no MLflow needs flask here).
- NumpyEncoder, get_jsonable_obj (`_get_jsonable_obj`), cast_df_types_according_to_schema
  (mlflow.utils.proto_json_utils): alike in all supported versions.
- enforce_schema, enforce_mlflow_datatype (mlflow.models.utils `_enforce_schema`,
  `_enforce_mlflow_datatype`), get_model_version_from_model_uri: all (3.x adds an optional flavor).
- load_serving_input_example (`_load_serving_input_example`, 2.15+): before 2.15, built from the
  saved input example.
- model_run_id (Model.run_id): 2.x raises AttributeError for a saved, never logged model: None.
- loader_module (PyFuncModel.loader_module, missing in 2.10): else read from the MLmodel flavor.
- flavor_predict_fn (PyFuncModel._predict_fn): all.
- refused_before_model (the names of PyFuncModel.predict's input and params enforcement:
  `_validate_prediction_input`, `_enforce_params_schema` in 2.11+; `_enforce_schema`,
  `_validate_params` in 2.10): all.
"""
from __future__ import annotations

import json
import os
import traceback
from typing import Any, Callable

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import utils as _model_utils
from mlflow.utils import proto_json_utils as _proto_json

MLFLOW_VERSION = mlflow.__version__
PYFUNC_FLAVOR = "python_function"


def _require(module: Any, name: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"MLflow {MLFLOW_VERSION} has no {module.__name__}.{name}, which the service "
                          "needs: service/mlflow_compat.py needs a fallback for this version") from None


NumpyEncoder = _require(_proto_json, "NumpyEncoder")
get_jsonable_obj = _require(_proto_json, "_get_jsonable_obj")
cast_df_types_according_to_schema = _require(_proto_json, "cast_df_types_according_to_schema")
enforce_schema = _require(_model_utils, "_enforce_schema")
enforce_mlflow_datatype = _require(_model_utils, "_enforce_mlflow_datatype")
get_model_version_from_model_uri = _require(_model_utils, "get_model_version_from_model_uri")


# --- the scoring protocol's parsers -------------------------------------------------------------
# MLflow 2.10's scoring_server code for these three (unchanged in substance up to 3.x): used only
# where importing scoring_server would need flask, i.e. mlflow-skinny < 2.21 without flask.
VENDORED_FORMATS = frozenset({"dataframe_records", "dataframe_split", "instances", "inputs"})


def _vendored_infer_and_parse_data(data: dict, schema: Any = None) -> Any:
    keys = set(data).intersection(VENDORED_FORMATS)
    if len(keys) != 1:
        raise MlflowException("The input must be a JSON dictionary with exactly one of the input fields "
                              f"{sorted(VENDORED_FORMATS)}. Received {sorted(data)}")
    key = keys.pop()
    if key in ("instances", "inputs"):
        return _proto_json.parse_tf_serving_input(data, schema=schema)
    return _proto_json.dataframe_from_parsed_json(data[key], pandas_orient=key[len("dataframe_"):],
                                                  schema=schema)


def _vendored_parse_csv_input(csv_input: Any, schema: Any = None) -> Any:
    import pandas as pd

    try:
        if schema is None:
            return pd.read_csv(csv_input)
        return pd.read_csv(csv_input, dtype=dict(zip(schema.input_names(), schema.pandas_types())))
    except Exception as exc:  # noqa: BLE001 - as MLflow: any parse failure is a bad request
        raise MlflowException("Failed to parse input as a Pandas DataFrame: "
                              f"{type(exc).__name__}") from None


def _flask_missing(exc: ImportError) -> bool:
    return (exc.name or "").split(".")[0] in {"flask", "flask_cors", "werkzeug"}


def _scoring_protocol() -> tuple[Any, Callable[..., Any], Callable[..., Any], bool]:
    """(formats, infer_and_parse_data, parse_csv_input, vendored?)."""
    try:
        from mlflow.pyfunc import scoring_server
    except ImportError as exc:
        if not _flask_missing(exc):
            raise
        return VENDORED_FORMATS, _vendored_infer_and_parse_data, _vendored_parse_csv_input, True
    return (scoring_server.SUPPORTED_FORMATS, scoring_server.infer_and_parse_data,
            scoring_server.parse_csv_input, False)


SUPPORTED_FORMATS, infer_and_parse_data, parse_csv_input, SCORING_VENDORED = _scoring_protocol()


# --- the model -----------------------------------------------------------------------------------
def load_serving_input_example(metadata: Any, path: str) -> str | None:
    """The model's serving input example (a JSON request body), or None if it has none.

    MLflow 2.15+ saves it at log time (`serving_input_example.json`); for a model logged before,
    MLflow 2.15+ returns None and so does this. MLflow < 2.15 has no such reader: the body is built
    from the saved input example as `mlflow models predict` builds it (`dump_input_data`)."""
    native = getattr(_model_utils, "_load_serving_input_example", None)
    if native is not None:
        return native(metadata, path)
    if getattr(metadata, "saved_input_example_info", None) is None:
        return None
    example = metadata.load_input_example(path)
    if example is None:
        return None
    reader = getattr(metadata, "load_input_example_params", None)
    params = reader(path) if reader is not None else None
    body = _proto_json.dump_input_data(example, params=params)
    return body if isinstance(body, str) else json.dumps(body)


def model_run_id(metadata: Any) -> str | None:
    """The run that logged the model; None for a saved, never logged one (2.x raises there)."""
    try:
        return metadata.run_id
    except AttributeError:
        return None


def loader_module(pyfunc: Any) -> str | None:
    """The pyfunc's loader module (`mlflow.sklearn`, ...), read from MLmodel where the property is missing."""
    try:
        return pyfunc.loader_module
    except AttributeError:
        flavor = (pyfunc.metadata.flavors or {}).get(PYFUNC_FLAVOR) or {}
        return flavor.get("loader_module")


def flavor_predict_fn(pyfunc: Any) -> Callable[..., Any] | None:
    """The flavor's own predict that PyFuncModel.predict calls after enforcing the schema, or None."""
    return getattr(pyfunc, "_predict_fn", None)


# What PyFuncModel.predict runs on the input before it calls the model (names per MLflow version)
ENFORCEMENT = frozenset({"_validate_prediction_input", "_enforce_params_schema", "_enforce_schema",
                         "_validate_params"})
MLFLOW_DIR = os.path.dirname(mlflow.__file__) + os.sep


def refused_before_model(exc: BaseException) -> bool:
    """Did PyFuncModel.predict's own enforcement of the signature or params raise `exc`, before the
    model ran? Read from the traceback: an enforcement frame of MLflow's comes before any frame
    outside MLflow (the model's own code, its libraries). MLflow 2.10 re-raises the enforcement
    error from `predict` itself, so a traceback that stays in MLflow without naming the step is read
    through the exception it was raised while handling."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        verdict = _enforcement_first(exc)
        if verdict is not None:
            return verdict
        exc = exc.__cause__ or exc.__context__
    return False


def _enforcement_first(exc: BaseException) -> bool | None:
    """True: an enforcement frame before any frame outside MLflow; False: the model's code ran;
    None: the traceback stays in MLflow without an enforcement frame."""
    entered = False
    for frame in traceback.extract_tb(exc.__traceback__):
        in_mlflow = frame.filename.startswith(MLFLOW_DIR)
        if in_mlflow and frame.name in ENFORCEMENT:
            return True
        if entered and not in_mlflow:
            return False
        entered = entered or in_mlflow
    return None if entered else False
