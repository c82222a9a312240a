"""Contract tests of service.mlflow_compat: one per MLflow symbol the service relies on.

Plain pytest on Python 3.9+, no fixtures from conftest: tests/service/test_compat_envs.py runs this
same file inside venvs with the oldest and the newest supported MLflow.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
from io import StringIO

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.types import ColSpec, DataType, Schema
from packaging.version import Version

from service import mlflow_compat as compat
from tests.service import compat_model

SCHEMA = Schema([ColSpec(DataType.double, "age"), ColSpec(DataType.double, "income")])
FRAME = pd.DataFrame({"age": [35.0, 52.0], "income": [42.0, 88.5]})
PARSERS = [pytest.param((compat.infer_and_parse_data, compat.parse_csv_input), id="active"),
           pytest.param((compat._vendored_infer_and_parse_data, compat._vendored_parse_csv_input), id="vendored")]


@pytest.fixture(scope="module")
def sklearn_dir(tmp_path_factory) -> str:
    return compat_model.save_sklearn(str(tmp_path_factory.mktemp("compat") / "sklearn"))


@pytest.fixture(scope="module")
def pyfunc_dir(tmp_path_factory) -> str:
    return compat_model.save_pyfunc(str(tmp_path_factory.mktemp("compat") / "pyfunc"))


def test_every_service_module_imports_on_this_python_and_mlflow():
    for name in ("app", "batching", "codec", "core", "fastpath", "loading", "logs", "settings",
                 "validation", "worker", "openapi", "readiness", "middleware", "metrics", "__main__"):
        importlib.import_module(f"service.{name}")


def test_scoring_server_used_unless_it_needs_a_missing_flask():
    # scoring_server imports flask up to 2.15, and mlflow.server (which imports flask) up to 2.20
    needs_flask = Version(Version(mlflow.__version__).base_version) < Version("2.21")
    flask_missing = importlib.util.find_spec("flask") is None
    assert (needs_flask and flask_missing) == compat.SCORING_VENDORED


def test_supported_formats():
    assert set(compat.SUPPORTED_FORMATS) == {"dataframe_split", "dataframe_records", "instances", "inputs"}
    assert set(compat.VENDORED_FORMATS) == set(compat.SUPPORTED_FORMATS)


@pytest.mark.parametrize("parsers", PARSERS)
def test_infer_and_parse_data(parsers):
    infer, _ = parsers
    split = infer({"dataframe_split": {"columns": ["age", "income"], "data": [[35, 42.0], [52, 88.5]]}}, SCHEMA)
    assert list(split.columns) == ["age", "income"] and split["age"].dtype == np.float64
    records = infer({"dataframe_records": [{"age": 35.0, "income": 42.0}]}, SCHEMA)
    assert records.to_dict(orient="records") == [{"age": 35.0, "income": 42.0}]
    assert np.asarray(infer({"instances": [[1.0, 2.0]]}, None)).tolist() == [[1.0, 2.0]]
    assert isinstance(infer({"inputs": {"age": [1.0]}}, None), dict)
    with pytest.raises(MlflowException):
        infer({"nope": []}, None)


@pytest.mark.parametrize("parsers", PARSERS)
def test_parse_csv_input(parsers):
    _, parse_csv = parsers
    frame = parse_csv(StringIO("age,income\n35,42\n"), schema=SCHEMA)
    assert frame["age"].dtype == np.float64 and frame.to_dict(orient="records") == [{"age": 35.0, "income": 42.0}]
    with pytest.raises(MlflowException):
        parse_csv(StringIO("age,income\nx,1\n"), schema=SCHEMA)


def test_vendored_parsers_match_mlflows_where_both_exist():
    if compat.SCORING_VENDORED:  # no flask for this MLflow's scoring_server: the vendored ones serve
        assert compat.infer_and_parse_data is compat._vendored_infer_and_parse_data
        assert compat.parse_csv_input is compat._vendored_parse_csv_input
        return
    from mlflow.pyfunc import scoring_server

    body = {"dataframe_split": {"columns": ["age", "income"], "data": [[35, 42.0], [52, 88.5]]}}
    pd.testing.assert_frame_equal(compat._vendored_infer_and_parse_data(body, SCHEMA),
                                  scoring_server.infer_and_parse_data(body, SCHEMA))
    csv = "age,income\n35,42\n"
    pd.testing.assert_frame_equal(compat._vendored_parse_csv_input(StringIO(csv), SCHEMA),
                                  scoring_server.parse_csv_input(StringIO(csv), schema=SCHEMA))


def test_numpy_encoder():
    encoder = compat.NumpyEncoder()
    assert encoder.default(np.int64(3)) == 3 and isinstance(encoder.default(np.float32(0.5)), float)
    assert encoder.default(np.array([1, 2])) == [1, 2]


def test_get_jsonable_obj():
    assert compat.get_jsonable_obj(np.array([1, 2]), pandas_orient="records") == [1, 2]
    assert compat.get_jsonable_obj(FRAME, pandas_orient="records") == [{"age": 35.0, "income": 42.0},
                                                                       {"age": 52.0, "income": 88.5}]
    # a Series is answered as one-column records (unnamed: the key 0, hence orjson's OPT_NON_STR_KEYS)
    assert compat.get_jsonable_obj(pd.Series([1, 2]), pandas_orient="records") == [{0: 1}, {0: 2}]


def test_cast_df_types_according_to_schema():
    cast = compat.cast_df_types_according_to_schema(pd.DataFrame({"age": [1], "income": [2]}), SCHEMA)
    assert cast["age"].dtype == np.float64
    with pytest.raises(Exception):  # noqa: B017 - the type differs across versions; it raises
        compat.cast_df_types_according_to_schema(pd.DataFrame({"age": ["x"], "income": [2]}), SCHEMA)


def test_enforce_schema():
    enforced = compat.enforce_schema(FRAME[["income", "age"]], SCHEMA)
    assert list(enforced.columns) == ["age", "income"]
    with pytest.raises(MlflowException):
        compat.enforce_schema(FRAME[["age"]], SCHEMA)


def test_enforce_mlflow_datatype():
    compat.enforce_mlflow_datatype("age", FRAME["age"], DataType.double)
    with pytest.raises(MlflowException):
        compat.enforce_mlflow_datatype("age", pd.Series(["a"]), DataType.double)


def test_get_model_version_from_model_uri_takes_a_uri():
    # resolving against a registry is covered by tests/service with the project's MLflow server
    assert list(inspect.signature(compat.get_model_version_from_model_uri).parameters) == ["model_uri"]


def test_load_serving_input_example(sklearn_dir, tmp_path):
    body = json.loads(compat.load_serving_input_example(Model.load(sklearn_dir), sklearn_dir))
    key = next(key for key in body if key in compat.SUPPORTED_FORMATS)
    frame = compat.infer_and_parse_data({key: body[key]}, SCHEMA)
    assert frame.to_dict(orient="list") == {"age": [35.0, 52.0], "income": [42.0, 88.5]}
    bare = compat_model.save_pyfunc(str(tmp_path / "bare"), with_example=False)
    assert compat.load_serving_input_example(Model.load(bare), bare) is None


def test_model_run_id(sklearn_dir):
    assert compat.model_run_id(Model.load(sklearn_dir)) is None
    model = Model(run_id="0123abc")
    assert compat.model_run_id(model) == "0123abc"


def test_loader_module(sklearn_dir, pyfunc_dir):
    assert compat.loader_module(mlflow.pyfunc.load_model(sklearn_dir)) == "mlflow.sklearn"
    assert compat.loader_module(mlflow.pyfunc.load_model(pyfunc_dir)) == "mlflow.pyfunc.model"


def test_flavor_predict_fn_is_what_predict_calls_after_enforcement(sklearn_dir):
    pyfunc = mlflow.pyfunc.load_model(sklearn_dir)
    predict = compat.flavor_predict_fn(pyfunc)
    assert callable(predict)
    enforced = compat.enforce_schema(FRAME, SCHEMA)
    assert np.asarray(predict(enforced)).tolist() == np.asarray(pyfunc.predict(FRAME)).tolist()


def test_refused_before_model_tells_mlflows_enforcement_from_the_models_own_failure(sklearn_dir, pyfunc_dir):
    def raised(call) -> BaseException:
        with pytest.raises(Exception) as failure:
            call()
        return failure.value

    echo = mlflow.pyfunc.load_model(pyfunc_dir)
    assert compat.refused_before_model(raised(lambda: echo.predict(pd.DataFrame({"age": [1.0]}))))  # no city
    sklearn = mlflow.pyfunc.load_model(sklearn_dir)
    assert compat.refused_before_model(raised(lambda: sklearn.predict(pd.DataFrame({"age": ["x"], "income": [1.0]}))))
    wrong_width = pd.DataFrame({"age": [1.0]})  # past enforcement, sklearn itself fails
    assert not compat.refused_before_model(raised(lambda: compat.flavor_predict_fn(sklearn)(wrong_width)))
    assert not compat.refused_before_model(raised(lambda: {}["ours"]))
