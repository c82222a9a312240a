"""service/codec.py: Content-Type rules, parsing per the MLflow scoring protocol with errors that name
the field (and never quote the payload), row limits and the response encoding."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, DataType, Schema

from service.codec import media_type, parse, row_count, serialise
from service.errors import BadRequest, UnsupportedMediaType
from service.fastpath import FastParser

JSON = "application/json"
SCHEMA = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.string, "s")])


@pytest.mark.parametrize(("header", "mime"), [
    pytest.param("application/json", "application/json", id="json"),
    pytest.param("Application/JSON", "application/json", id="case"),
    pytest.param("application/json; charset=utf-8", "application/json", id="charset"),
    pytest.param('application/json;charset="UTF-8"', "application/json", id="quoted-charset"),
    pytest.param("text/csv", "text/csv", id="csv"),
    pytest.param(" application/csv ", "application/csv", id="application-csv"),
])
def test_media_type_accepts(header, mime):
    assert media_type(header) == mime


@pytest.mark.parametrize(("header", "message"), [
    pytest.param(None, "missing Content-Type", id="missing"),
    pytest.param("", "missing Content-Type", id="empty"),
    pytest.param("application/json; charset=latin-1", "unsupported Content-Type parameter", id="other-charset"),
    pytest.param("application/json; boundary=x", "unsupported Content-Type parameter", id="other-parameter"),
    pytest.param("text/plain", "unsupported Content-Type", id="text-plain"),
    pytest.param("application/x-www-form-urlencoded", "unsupported Content-Type", id="form"),
])
def test_media_type_refuses_with_415(header, message):
    with pytest.raises(UnsupportedMediaType) as raised:
        media_type(header)
    assert (raised.value.status, raised.value.message, raised.value.field) == (415, message, "Content-Type")


def body(document) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(("payload", "rows", "params"), [
    pytest.param(body({"dataframe_split": {"columns": ["x", "s"], "data": [[1.0, "a"], [2.0, "b"]]}}), 2, None,
                 id="split"),
    pytest.param(body({"dataframe_records": [{"x": 1.0, "s": "a"}]}), 1, None, id="records"),
    pytest.param(body({"instances": [{"x": 1.0, "s": "a"}, {"x": 2.0, "s": "b"}, {"x": 3.0, "s": "c"}]}), 3, None,
                 id="instances"),
    pytest.param(body({"inputs": {"x": [1.0, 2.0], "s": ["a", "b"]}}), 2, None, id="inputs-columns"),
    pytest.param(body({"dataframe_split": {"columns": ["x", "s"], "data": [[1.0, "a"]]}, "params": {"k": 2}}), 1,
                 {"k": 2}, id="with-params"),
    pytest.param(b'{"dataframe_split": {"columns": ["x", "s"], "data": [[NaN, "a"]]}}', 1, None,
                 id="nan-as-mlflow-accepts"),
])
def test_parse_json(payload, rows, params):
    parsed = parse(payload, JSON, SCHEMA, max_rows=100)
    assert (parsed.rows, parsed.params, parsed.validated) == (rows, params, False)


def test_parse_csv():
    parsed = parse(b"x,s\n1.5,a\n2.5,b\n", "text/csv", SCHEMA, max_rows=100)
    assert parsed.rows == 2 and parsed.params is None
    assert list(parsed.data.columns) == ["x", "s"] and parsed.data["x"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(("payload", "content_type", "message", "field"), [
    pytest.param(b"  ", JSON, "empty body", "body", id="empty-json"),
    pytest.param(b"", "text/csv", "empty body", "body", id="empty-csv"),
    pytest.param(b'{"dataframe_split": {"columns": [SECRET', JSON, "malformed JSON at line 1 column 34", "body",
                 id="malformed"),
    pytest.param(b"\xff\xfe", JSON, "malformed JSON", "body", id="not-utf8"),
    pytest.param(b"[1, 2]", JSON, "the body must be a JSON object", "body", id="array"),
    pytest.param(body({"data": [[1]]}), JSON, "no input field, or more than one", "body", id="no-known-key"),
    pytest.param(body({"inputs": [1], "instances": [1]}), JSON, "no input field, or more than one", "body",
                 id="two-keys"),
    pytest.param(body({"inputs": {"x": [1.0], "s": ["a"]}, "params": [1]}), JSON, "'params' must be an object",
                 "params", id="params-not-object"),
    pytest.param(body({"dataframe_split": {"columns": ["x", "s"], "data": []}}), JSON, "no rows to predict",
                 "dataframe_split", id="no-rows"),
    pytest.param(body({"dataframe_records": [{"x": 1.0, "s": "a"}] * 3}), JSON, "too many rows: 3",
                 "dataframe_records", id="too-many-rows"),
    pytest.param(body({"dataframe_split": {"columns": ["x", "s"], "data": [["SECRET", "a"]]}}), JSON,
                 "column 'x' has a value of the wrong type", "x", id="wrong-type-names-the-column"),
    pytest.param(body({"dataframe_split": "SECRET"}), JSON, "'dataframe_split' is not a valid input",
                 "dataframe_split", id="invalid-shape"),
    pytest.param(b"x,s\nSECRET,a\n", "text/csv", "column 'x' has a value of the wrong type", "x", id="csv-wrong-type"),
    pytest.param("x,s\n1,é\n".encode("latin-1"), "text/csv", "the CSV body is not UTF-8", "body", id="csv-latin1"),
])
def test_parse_refuses_naming_the_field(payload, content_type, message, field):
    with pytest.raises(BadRequest) as raised:
        parse(payload, content_type, SCHEMA, max_rows=2)
    assert raised.value.message.startswith(message)
    assert raised.value.field == field
    assert "SECRET" not in json.dumps(raised.value.body())


def test_parse_takes_the_fast_path_when_given_one():
    payload = body({"dataframe_split": {"columns": ["s", "x"], "data": [["a", 1.0]]}})
    parsed = parse(payload, JSON, SCHEMA, max_rows=10, fast=FastParser(SCHEMA))
    assert parsed.validated and list(parsed.data.columns) == ["x", "s"]


def test_parse_without_schema():
    parsed = parse(body({"inputs": [[1, 2], [3, 4]]}), JSON, None, max_rows=10)
    assert parsed.rows == 2 and np.asarray(parsed.data).tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(("data", "rows"), [
    pytest.param(pd.DataFrame({"a": [1, 2, 3]}), 3, id="frame"),
    pytest.param(pd.Series([1, 2]), 2, id="series"),
    pytest.param([[1], [2]], 2, id="list"),
    pytest.param(np.zeros((4, 2)), 4, id="array"),
    pytest.param({"a": [1, 2, 3], "b": 5}, 3, id="dict-of-columns-and-scalar"),
    pytest.param({"a": np.zeros(5)}, 5, id="dict-of-arrays"),
    pytest.param({"a": 1, "b": "x"}, 1, id="dict-of-scalars"),
    pytest.param({}, 0, id="empty-dict"),
    pytest.param(np.float64(1.0), 1, id="numpy-scalar"),
    pytest.param("text", 1, id="scalar"),
])
def test_row_count(data, rows):
    assert row_count(data) == rows


@pytest.mark.parametrize(("predictions", "encoded"), [
    pytest.param(np.array([0.5, 1.0]), {"predictions": [0.5, 1.0]}, id="array"),
    pytest.param(pd.Series([1, 2], name="score"), {"predictions": [{"score": 1}, {"score": 2}]},
                 id="named-series-as-mlflow"),
    pytest.param(pd.DataFrame({"a": [1], "b": ["x"]}), {"predictions": [{"a": 1, "b": "x"}]}, id="frame-records"),
    pytest.param([np.int64(3), np.float32(0.5)], {"predictions": [3, 0.5]}, id="numpy-scalars"),
    pytest.param({"k": np.array([[1, 2]])}, {"predictions": {"k": [[1, 2]]}}, id="dict-of-arrays"),
    pytest.param("label", {"predictions": "label"}, id="string"),
])
def test_serialise(predictions, encoded):
    assert json.loads(serialise(predictions)) == encoded


FLOAT32_ANSWERS = [
    pytest.param({"probabilities": np.array([[0.8175883, 0.1824117]], dtype=np.float32), "label": np.array([0])},
                 id="dict-of-float32-arrays"),
    pytest.param([np.float32(0.1), np.array([0.2], dtype=np.float16)], id="list-of-narrow-floats"),
    pytest.param((np.float32(0.3),), id="tuple"),
    pytest.param({"nested": {"score": np.float32(0.7)}}, id="nested-dict"),
    pytest.param(np.array([[0.4]], dtype=np.float32), id="bare-array"),
    pytest.param(pd.DataFrame({"p": np.array([0.6], dtype=np.float32)}), id="float32-frame"),
]


@pytest.mark.parametrize("predictions", FLOAT32_ANSWERS)
def test_float32_answers_carry_the_digits_mlflow_writes(predictions):
    """`mlflow models serve` widens float32 to float64 and writes 0.8175883018493652; orjson alone would
    write 0.8175883 for the same number: a client comparing the two servers would see them differ."""
    from mlflow.pyfunc.scoring_server import predictions_to_json

    theirs = io.StringIO()
    predictions_to_json(predictions, theirs)
    assert serialise(predictions).decode() == json.dumps(json.loads(theirs.getvalue()), separators=(",", ":"))


def test_serialise_an_unnamed_series_as_mlflow_does():
    assert json.loads(serialise(pd.Series([1, 2]))) == {"predictions": [{"0": 1}, {"0": 2}]}


@pytest.mark.parametrize("literal", [-(2**63) - 1, 2**64, 2**64 + 1, 10**30])
def test_an_integer_beyond_64_bits_is_read_exactly(literal):
    schema = Schema([ColSpec(DataType.long, "n")])
    with pytest.raises(BadRequest) as refused:
        parse(b'{"inputs": {"n": [%d]}}' % literal, "application/json", schema, 10)
    assert refused.value.field == "n"


@pytest.mark.parametrize(("body", "field"), [
    (b'{"dataframe_split": {"columns": ["x", "label"], "data": [[1.0, "ok"], [2.0, "bad\\ud800"]]}}', "label"),
    (b'{"dataframe_records": [{"x": 1.0, "label": "\\udc00"}]}', "label"),
    (b'{"inputs": {"x": [1.0], "label": ["a\\uDBFF"]}}', "label"),
    (b'{"instances": [{"x": 1.0, "label": "\\ud800"}]}', "label"),
    (b'{"dataframe_split": {"columns": ["x", "l\\ud800"], "data": [[1.0, "a"]]}}', "columns"),
])
def test_a_lone_surrogate_is_a_400_naming_its_field(body, field):
    schema = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.string, "label")])
    with pytest.raises(BadRequest, match="lone surrogate") as refused:
        parse(body, "application/json", schema, 10)
    assert refused.value.field == field


def test_a_surrogate_pair_is_a_character():
    schema = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.string, "label")])
    parsed = parse(b'{"dataframe_records": [{"x": 1.0, "label": "\\ud83d\\ude00"}]}', "application/json", schema, 10)
    assert parsed.rows == 1


@pytest.mark.parametrize(("split", "message"), [
    ({"columns": ["x"], "data": [[1.0]], "index": [0, 1, 2]}, "'index' has 3 entries for 1 rows of 'data'"),
    ({"columns": ["x"], "data": [[1.0], [2.0]], "index": [5]}, "'index' has 1 entries for 2 rows of 'data'"),
    ({"columns": ["x"], "data": [[1.0]], "index": 7}, "'index' has not a list of entries for 1 rows"),
])
def test_an_index_that_does_not_name_each_row_once_is_a_400(split, message):
    """pandas would broadcast the row: predictions for rows nobody sent."""
    with pytest.raises(BadRequest, match=message) as refused:
        parse(json.dumps({"dataframe_split": split}).encode(), "application/json", None, 10)
    assert refused.value.field == "index"


def test_an_index_with_one_entry_per_row_is_kept():
    parsed = parse(b'{"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]], "index": [7, 9]}}',
                   "application/json", None, 10)
    assert parsed.rows == 2 and list(parsed.data.index) == [7, 9]


@pytest.mark.parametrize(("split", "message"), [
    ({"columns": ["x", "y"], "data": [[1.0, 2.0], [3.0]]}, "row 1 of 'data' has 1 values for 2 columns"),
    ({"columns": ["x"], "data": [[1.0, 2.0, 3.0]]}, "row 0 of 'data' has 3 values for 1 columns"),
])
def test_a_row_without_one_value_per_column_is_a_400_naming_columns(split, message):
    schema = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.double, "y", required=False)])
    for with_schema in (schema, None):
        with pytest.raises(BadRequest, match=message) as refused:
            parse(json.dumps({"dataframe_split": split}).encode(), "application/json", with_schema, 10)
        assert refused.value.field == "columns"
