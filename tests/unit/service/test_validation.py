"""service/validation.py: a parsed request against the signature, errors naming the column."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from service.errors import BadRequest
from service.validation import FLOAT_LIMIT, type_name, validate

SCHEMA = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.long, "n"), ColSpec(DataType.string, "s"),
                 ColSpec(DataType.boolean, "b", required=False)])


def frame(**columns) -> pd.DataFrame:
    base = {"x": [1.5, 2.0], "n": [1, 2], "s": ["a", "b"]}
    return pd.DataFrame({**base, **columns})


@pytest.mark.parametrize("data", [
    pytest.param(frame(), id="frame"),
    pytest.param(frame(b=[True, False]), id="optional-present"),
    pytest.param([{"x": 1.0, "n": 1, "s": "a"}, {"x": 2.0, "n": 2, "s": "b"}], id="records"),
    pytest.param({"x": 1.0, "n": 3, "s": "a"}, id="one-row-dict"),
    pytest.param({"x": [1.0, 2.0], "n": [1, 2], "s": ["a", "b"]}, id="dict-of-columns"),
    pytest.param(frame(x=[FLOAT_LIMIT, -FLOAT_LIMIT]), id="float32-limits"),
])
def test_valid(data):
    assert validate(data, SCHEMA) is None


@pytest.mark.parametrize(("data", "message", "field", "expected"), [
    pytest.param(frame().drop(columns="n"), "missing required column 'n'", "n", "long", id="missing"),
    pytest.param(frame(z=[1, 2]), "unknown column 'z'", "z", "one of x, n, s, b", id="unknown"),
    pytest.param(pd.concat([frame(), frame()[["x"]]], axis=1), "column 'x' appears more than once", "x",
                 "unique columns", id="repeated"),
    pytest.param(frame(x=[1.0, np.nan]), "column 'x' has a null or NaN value", "x", "double, not null", id="nan"),
    pytest.param(frame(s=["a", None]), "column 's' has a null or NaN value", "s", "string, not null", id="null"),
    pytest.param(frame(n=["SECRET", "2"]), "column 'n' has the wrong type", "n", "long", id="string-in-long"),
    pytest.param(frame(x=[1, 2]), "column 'x' has the wrong type", "x", "double",
                 id="int64-in-double-as-mlflow-refuses"),
    pytest.param(frame(x=[[1.0], [2.0]]), "column 'x' has the wrong type", "x", "double", id="list-in-double"),
    pytest.param(frame(s=[1, 2]), "column 's' has", "s", "string", id="int-in-string"),
    pytest.param(frame(x=[1e39, 1.0]), "column 'x' has a value out of range", "x",
                 f"a finite double within ±{FLOAT_LIMIT:.4g}", id="beyond-float32"),
    pytest.param(frame(x=[np.inf, 1.0]), "column 'x' has a value out of range", "x",
                 f"a finite double within ±{FLOAT_LIMIT:.4g}", id="infinity"),
    pytest.param([1, 2, 3], "the input is not a table of the signature's columns", "inputs",
                 "one value per column and row: x, n, s, b", id="not-a-table"),
])
def test_invalid_names_the_field(data, message, field, expected):
    with pytest.raises(BadRequest) as raised:
        validate(data, SCHEMA)
    error = raised.value
    assert error.message.startswith(message) and (error.field, error.expected) == (field, expected)
    assert "SECRET" not in error.message


def test_no_schema_accepts_anything():
    assert validate(object(), None) is None


TENSOR = Schema([TensorSpec(np.dtype("float32"), (-1, 2), "t")])


@pytest.mark.parametrize(("data", "ok"), [
    pytest.param(np.zeros((3, 2), dtype=np.float32), True, id="right-shape"),
    pytest.param(np.zeros((3, 5), dtype=np.float32), False, id="wrong-shape"),
])
def test_tensor_schema(data, ok):
    if ok:
        assert validate(data, TENSOR) is None
    else:
        with pytest.raises(BadRequest, match="the input does not match the model signature") as raised:
            validate(data, TENSOR)
        assert raised.value.field == "t"


@pytest.mark.parametrize(("col_type", "name"), [
    pytest.param(DataType.double, "double", id="datatype"),
    pytest.param("custom", "custom", id="other"),
])
def test_type_name(col_type, name):
    assert type_name(col_type) == name
