"""The fast parse path accepts only what the general (MLflow) path accepts, and builds the very
frame MLflow's schema enforcement hands the model: same columns, signature order, values and dtypes.
Everything unusual falls back."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.models.utils import _enforce_schema
from mlflow.types import ColSpec, DataType, Schema

from service import codec, validation
from service.core import Predictor
from service.errors import BadRequest
from service.fastpath import FastParser

JSON = "application/json"
SCHEMA = Schema([ColSpec(DataType.double, "d"), ColSpec(DataType.float, "f"), ColSpec(DataType.long, "l"),
                 ColSpec(DataType.integer, "i"), ColSpec(DataType.string, "s"), ColSpec(DataType.boolean, "b")])
NAMES = ["d", "f", "l", "i", "s", "b"]
ROWS = [[1.5, 2.25, 3, 4, "x", True], [-0.5, 0, -(2**40), -7, "", False], [7, 1e30, 0, 2**31 - 1, "é", True]]


def split(rows, columns=NAMES, **extra):
    return {"dataframe_split": {"columns": columns, "data": rows, **extra}}


def records(rows, columns=NAMES):
    return {"dataframe_records": [dict(zip(columns, row, strict=True)) for row in rows]}


def both(document, schema=SCHEMA) -> tuple[codec.ModelInput, codec.ModelInput]:
    body = json.dumps(document).encode()
    return (codec.parse(body, JSON, schema, 100, FastParser(schema)), codec.parse(body, JSON, schema, 100))


ACCEPTED = {
    "split": split(ROWS),
    "records": records(ROWS),
    "split, other column order": split([row[::-1] for row in ROWS], NAMES[::-1]),
    "records, other key order": records([row[::-1] for row in ROWS], NAMES[::-1]),
    "one row": split(ROWS[:1]),
    "with params": {**split(ROWS), "params": {"k": 1}},
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_fast_path_builds_the_frame_mlflow_builds(name):
    fast, slow = both(ACCEPTED[name])
    assert fast.validated and not slow.validated
    validation.validate(slow.data, SCHEMA)  # the general path accepts it too
    enforced = _enforce_schema(slow.data, SCHEMA)  # what PyFuncModel.predict passes to the flavor
    assert list(fast.data.columns) == NAMES
    pd.testing.assert_frame_equal(fast.data, enforced, check_dtype=True, check_column_type=True)
    assert (fast.params, fast.rows) == (slow.params, slow.rows)


FALLBACK = {
    "index": split(ROWS, index=[5, 6, 7]),
    "missing column": split([row[:-1] for row in ROWS], NAMES[:-1]),
    "unknown column": split([[*row, 1] for row in ROWS], [*NAMES, "z"]),
    "repeated column": split([[*row[:-1], 1.0] for row in ROWS], [*NAMES[:-1], "d"]),
    "null": split([[None, *ROWS[0][1:]]]),
    "int in a string column": split([[*ROWS[0][:4], 5, True]]),
    "float in a long column": split([[1.0, 2.0, 3.0, 4, "x", True]]),
    "bool in a double column": split([[True, *ROWS[0][1:]]]),
    "string in a double column": split([["1", *ROWS[0][1:]]]),
    "out of float32 range": split([[1e39, *ROWS[0][1:]]]),
    "int too large to be exact in a double": split([[2**53 + 1, *ROWS[0][1:]]]),
    "int beyond int32": split([[1.0, 2.0, 3, 2**31, "x", True]]),
    "int in a bool column": split([[*ROWS[0][:5], 1]]),
    "ragged rows": split([ROWS[0], ROWS[1][:-1]]),
    "rows as objects in split": split([dict(zip(NAMES, ROWS[0], strict=True))]),
    "records with different keys": {"dataframe_records": [dict(zip(NAMES, ROWS[0], strict=True)),
                                                          dict(zip(NAMES[:-1], ROWS[1][:-1], strict=True))]},
    "instances": {"instances": records(ROWS)["dataframe_records"]},
    "inputs": {"inputs": records(ROWS)["dataframe_records"]},
}


@pytest.mark.parametrize("name", FALLBACK)
def test_anything_unusual_takes_the_general_path(name):
    body = json.dumps(FALLBACK[name]).encode()
    assert FastParser(SCHEMA).parse(*next(iter(FALLBACK[name].items()))) is None
    try:
        parsed = codec.parse(body, JSON, SCHEMA, 100, FastParser(SCHEMA))
        assert not parsed.validated
        validation.validate(parsed.data, SCHEMA)
    except BadRequest:
        pass  # the general path (parse, then validation) refused it, in its own words


def test_nan_and_infinity_fall_back():
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"dataframe_split": {"columns": ["d"], "data": [[%s]]}}' % token
        schema = Schema([ColSpec(DataType.double, "d")])
        assert FastParser(schema).parse("dataframe_split", json.loads(body)["dataframe_split"]) is None


def test_optional_columns_and_tensor_schemas_are_not_fast():
    assert not FastParser(Schema([ColSpec(DataType.double, "d", required=False)])).types
    assert not FastParser(Schema([ColSpec(DataType.datetime, "t")])).types
    assert not FastParser(None).types


def test_the_example_model_takes_the_fast_path_with_the_same_predictions(loaded_models):
    predictor = Predictor(loaded_models["sklearn"], max_rows=100)
    body = json.dumps(split([[34.0, 48000.0, "employed", 2], [52, 91000.0, "self-employed", 4]],
                            ["age", "income", "employment_status", "num_credit_cards"])).encode()
    parsed = predictor.parse(body, JSON)
    assert parsed.validated
    slow = codec.parse(body, JSON, predictor.schema, 100)
    pd.testing.assert_frame_equal(parsed.data, _enforce_schema(slow.data, predictor.schema))
    assert codec.serialise(predictor.predict(parsed.data, None, enforced=True)) == \
        codec.serialise(predictor.predict(slow.data, None))
