"""Request bodies -> model input, model output -> response bytes: the MLflow scoring protocol.

Parsing reuses MLflow's own helpers (`infer_and_parse_data`, `parse_csv_input`) so a body means
exactly what it means to `mlflow models serve`; their exceptions are replaced by ours because
their messages quote the payload.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.types import Schema

from service.casting import CastCheck
from service.errors import BadRequest, UnsupportedMediaType, quoted_name
from service.fastpath import FastParser
from service.mlflow_compat import (
    SUPPORTED_FORMATS,
    NumpyEncoder,
    cast_df_types_according_to_schema,
    get_jsonable_obj,
    infer_and_parse_data,
    parse_csv_input,
)

SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
SURROGATE = re.compile("[\ud800-\udfff]")
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
FORMAT_SHAPES = {
    "dataframe_split": "an object with 'data' and optional 'columns' and 'index'",
    "dataframe_records": "a list of objects, one per row",
    "instances": "a list of rows or an object of columns",
    "inputs": "a list of rows or an object of columns",
}
# orjson reads an integer beyond 64 bits as a float (-(2**63) - 1 becomes -(2**63)): a body with
# such a run of digits is read by json, which keeps every integer exact, as mlflow does
LONG_DIGITS = re.compile(rb"\d{19}")
EXPECTED_KEYS = "exactly one of " + ", ".join(sorted(SUPPORTED_FORMATS)) + " (and optional 'params')"


@dataclass
class ModelInput:
    """A parsed request: what `predict` receives, its params and its row count."""

    content: Any
    """What `predict` receives (`data`); for the fast path, the checked columns it is built from."""
    params: dict[str, Any] | None
    rows: int
    validated: bool = False
    """True when the fast path checked the request against the signature: `data` is the frame MLflow's
    schema enforcement would make (columns in signature order, signature dtypes)."""
    fast: FastParser | None = None
    """The fast parser that checked `content` (its columns), when `validated`."""

    @property
    def columns(self) -> Any:
        """The fast path's checked columns, or None: a micro-batch builds one frame of many requests'."""
        return self.content if self.fast is not None else None

    @functools.cached_property
    def data(self) -> Any:
        """Built on first use from the columns, when a request is predicted on its own."""
        return self.fast.frame([self.content]) if self.fast is not None else self.content


def media_type(content_type: str | None) -> str:
    """The bare media type; 415 for a missing type, another charset or unknown parameters."""
    if not content_type:
        raise UnsupportedMediaType("missing Content-Type", field="Content-Type",
                                   expected="application/json or text/csv")
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("unsupported Content-Type parameter", field="Content-Type",
                                       expected="no parameter other than charset=utf-8")
    mime = mime.lower()
    if mime not in JSON_TYPES | CSV_TYPES:
        raise UnsupportedMediaType("unsupported Content-Type", field="Content-Type",
                                   expected="application/json, text/csv or application/csv")
    return mime


def _surrogate_fields(node: Any, field: str = "body") -> Iterator[str]:
    """The fields (column names where the format has them) of the strings holding a lone surrogate."""
    if isinstance(node, str):
        if SURROGATE.search(node):
            yield field
    elif isinstance(node, dict):
        columns = node.get("columns")
        for key, value in node.items():
            if key == "data" and isinstance(columns, list) and isinstance(value, list):  # dataframe_split
                for row in value:
                    cells = row if isinstance(row, list) else [row]
                    for index, cell in enumerate(cells):
                        name = columns[index] if index < len(columns) else f"data[{index}]"
                        yield from _surrogate_fields(cell, quoted_name(name))
            else:
                yield from _surrogate_fields(value, quoted_name(key) if field != "body" or key not in FORMATS
                                             else field)
    elif isinstance(node, list):
        for value in node:
            yield from _surrogate_fields(value, field)


def _load_json(body: bytes) -> Any:
    if not LONG_DIGITS.search(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:  # what mlflow accepts beyond strict JSON (NaN, Infinity) is accepted here too
        document = json.loads(body)
    except RecursionError:
        raise BadRequest("JSON nested too deeply", field="body", expected="a JSON object") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        located = isinstance(exc, json.JSONDecodeError)
        where = f" at line {exc.lineno} column {exc.colno}" if located else ""
        raise BadRequest(f"malformed JSON{where}", field="body", expected="a JSON object") from None
    if SURROGATE_ESCAPE.search(body):  # json takes "\ud800" alone: no character, no encoding holds it
        field = next(_surrogate_fields(document), None)
        if field is not None:
            raise BadRequest("a string holds a lone surrogate escape (\\ud800-\\udfff without its pair), which "
                             "is no character and cannot be encoded", field=field,
                             expected="text: a \\uXXXX escape of U+D800-U+DFFF only as half of a surrogate pair")
    return document


def _failed_column(frame: pd.DataFrame, schema: Schema) -> tuple[str | None, str | None]:
    """Which column does not cast to its schema type (and that type), found one column at a time."""
    if not schema.has_input_names():
        return None, None
    types = dict(zip(schema.input_names(), schema.input_types()))
    for name in frame.columns:
        if name not in types:
            continue
        try:
            cast_df_types_according_to_schema(frame[[name]], schema)
        except Exception:  # noqa: BLE001 - any failure names this column
            return str(name), getattr(types[name], "name", str(types[name]))
    return None, None


def _type_error(frame_or_none: pd.DataFrame | None, schema: Schema | None, key: str,
                casts: CastCheck) -> BadRequest:
    if frame_or_none is not None and schema is not None:
        casts.check_frame(frame_or_none)
        column, expected = _failed_column(frame_or_none, schema)
        if column is not None:
            return BadRequest(f"column '{column}' has a value of the wrong type", field=column,
                              expected=expected)
    return BadRequest(f"'{key}' is not a valid input", field=key, expected=FORMAT_SHAPES.get(key, key))


def _check_split_shape(split: Any) -> None:
    """pandas broadcasts one row of `data` to every `index` entry: three index entries and one row would
    be three predictions for rows nobody sent. `index`, when given, names each row of `data` once, and
    each row has a value per name in `columns`."""
    if not isinstance(split, dict):
        return
    columns, data = split.get("columns"), split.get("data")
    if isinstance(columns, list) and isinstance(data, list):
        for number, row in enumerate(data):
            if isinstance(row, list) and len(row) != len(columns):
                raise BadRequest(f"row {number} of 'data' has {len(row)} values for {len(columns)} columns",
                                 field="columns", expected="one value per name in 'columns' in every row of 'data'")
    if "index" not in split:
        return
    index = split["index"]
    if not isinstance(index, list) or not isinstance(data, list) or len(index) != len(data):
        rows = len(data) if isinstance(data, list) else "no"
        entries = len(index) if isinstance(index, list) else "not a list of"
        raise BadRequest(f"'index' has {entries} entries for {rows} rows of 'data'", field="index",
                         expected="one index entry per row of 'data'")


def _parse_json(body: bytes, schema: Schema | None, fast: FastParser | None,
                casts: CastCheck) -> tuple[Any, dict[str, Any] | None, str, bool]:
    document = _load_json(body)
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object", field="body", expected=EXPECTED_KEYS)
    keys = [key for key in document if key in SUPPORTED_FORMATS]
    if len(keys) != 1:
        raise BadRequest("no input field, or more than one", field="body", expected=EXPECTED_KEYS)
    key = keys[0]
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("'params' must be an object", field="params", expected="an object")
    columns = fast.columns(key, document[key]) if fast is not None else None
    if columns is not None:
        return columns, params, key, True
    if key == "dataframe_split":
        _check_split_shape(document[key])
    casts.check_json(key, document[key])
    try:
        return infer_and_parse_data({key: document[key]}, schema), params, key, False
    except Exception:  # noqa: BLE001 - mlflow's messages quote the data; ours name the field
        try:
            raw = infer_and_parse_data({key: document[key]}, None)
        except Exception:  # noqa: BLE001
            raw = None
        raise _type_error(raw if isinstance(raw, pd.DataFrame) else None, schema, key, casts) from None


def _parse_csv(body: bytes, schema: Schema | None, casts: CastCheck) -> pd.DataFrame:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the CSV body is not UTF-8", field="body", expected="UTF-8 text") from None
    try:
        return parse_csv_input(StringIO(text), schema=schema)
    except MlflowException:
        try:
            raw = pd.read_csv(StringIO(text))
        except Exception:  # noqa: BLE001
            raise BadRequest("malformed CSV", field="body", expected="CSV with a header row") from None
        raise _type_error(raw, schema, "body", casts) from None


def row_count(data: Any) -> int:
    if isinstance(data, (pd.DataFrame, pd.Series, list)) or getattr(data, "ndim", 0) > 0:
        return len(data)
    if isinstance(data, dict):
        lengths = {len(value) if isinstance(value, list) or getattr(value, "ndim", 0) > 0 else 1
                   for value in data.values()}
        return max(lengths, default=0)
    return 1


def parse(body: bytes, content_type: str | None, schema: Schema | None, max_rows: int,
          fast: FastParser | None = None, casts: CastCheck | None = None) -> ModelInput:
    """Parse one request body per the MLflow scoring protocol; 4xx errors name the field.

    With `fast`, plain `dataframe_split`/`dataframe_records` bodies skip MLflow's parser (and are
    marked validated); everything else goes through it, after `casts` (built from `schema` when
    not given) checked that every number fits its column."""
    casts = casts if casts is not None else CastCheck(schema)
    mime = media_type(content_type)
    if not body.strip():
        raise BadRequest("empty body", field="body", expected=EXPECTED_KEYS if mime in JSON_TYPES
                         else "CSV with a header row")
    if mime in JSON_TYPES:
        data, params, key, validated = _parse_json(body, schema, fast, casts)
    else:
        data, params, key, validated = _parse_csv(body, schema, casts), None, "body", False
    rows = row_count(data)
    if rows == 0:
        raise BadRequest("no rows to predict", field=key, expected="at least one row")
    if rows > max_rows:
        raise BadRequest(f"too many rows: {rows}", field=key, expected=f"at most {max_rows} rows")
    return ModelInput(data, params, rows, validated, fast if validated else None)


def _default(value: Any) -> Any:
    return NumpyEncoder().default(value)


def _widened(value: Any) -> Any:
    """Narrow floats (float32, float16) inside a dict or list answer as float64: mlflow's encoder widens
    them (`.tolist()`, `.item()`) and writes 0.8175883293151855 where orjson's own float32 output would
    be 0.8175883, the same number printed another way that a client comparing both servers sees as
    different. A bare array or a DataFrame is widened by `get_jsonable_obj` already."""
    if isinstance(value, dict):
        return {key: _widened(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):  # tuples of types: the service runs on Python 3.9 too
        return [_widened(item) for item in value]
    if isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f" and value.dtype.itemsize < 8:
        return value.astype(np.float64)
    return value


def serialise(predictions: Any) -> bytes:
    """`{"predictions": ...}` exactly as mlflow's scoring server shapes it, encoded by orjson."""
    if isinstance(predictions, (dict, list, tuple)):
        predictions = _widened(predictions)
    return orjson.dumps({"predictions": get_jsonable_obj(predictions, pandas_orient="records")},
                        default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
