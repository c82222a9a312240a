"""Does every number a client sent fit its column's type? One check, before anything casts.

MLflow's parsers cast a request to the signature's types with numpy and pandas, which truncate
(2.5 -> 2 in a `long` column), wrap around (2**63 -> -2**63) or make True of any number in a
`boolean` column, silently. So each value is checked against its column's type first: an integer
type takes whole numbers within its range (a float only if it is whole), a boolean takes true,
false, 0 or 1, a float type takes numbers within its range. Anything else is a 400 naming the
column and never quoting the value. Strings, nulls and nested objects in number columns are left
to the parsers and to `service.validation`, which refuse what they cannot convert exactly.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from mlflow.types import DataType, Schema
from mlflow.types.schema import Array

from service.errors import BadRequest, quoted_name

NUMBER_KINDS = frozenset("iubf")
EXACT_IN_FLOAT = 2**53  # pandas builds a column of ints and floats as float64: larger ints lose digits
TYPE_NAMES = {np.dtype(data_type.to_numpy()): data_type.name
              for data_type in (DataType.long, DataType.integer, DataType.boolean, DataType.float, DataType.double)}


def _number_dtype(spec_type: Any) -> np.dtype | None:
    """The numpy type a column's values are cast to, when it is a number type."""
    if isinstance(spec_type, Array):
        return _number_dtype(spec_type.dtype)
    if isinstance(spec_type, DataType):
        spec_type = spec_type.to_numpy()
    try:
        dtype = np.dtype(spec_type)
    except TypeError:
        return None
    return dtype if dtype.kind in NUMBER_KINDS else None


def _fits(value: Any, dtype: np.dtype) -> bool:
    """Does `value` become `dtype` without loss? True for what is not a number (left to others)."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return True  # nulls: service.validation names them
    if dtype.kind == "b":
        return isinstance(value, (bool, np.bool_)) or (
            isinstance(value, (int, float, np.number)) and value in (0, 1))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return True
    if dtype.kind == "f":
        largest = float(np.finfo(dtype).max)
        if isinstance(value, (float, np.floating)):
            return not math.isfinite(value) or abs(value) <= largest  # ±inf and NaN: service.validation
        return abs(int(value)) <= largest
    if isinstance(value, (float, np.floating)) and not (math.isfinite(value) and float(value).is_integer()):
        return False
    info = np.iinfo(dtype)
    return info.min <= int(value) <= info.max


def _leaves(values: Any) -> Iterator[Any]:
    """Every scalar in a value or nested lists of values (a tensor, an array column), depth-first."""
    stack = [values]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            yield item


def _through_pandas_is_lossy(values: list[Any], dtype: np.dtype) -> bool:
    """pandas makes one float64 column of ints and floats: an int beyond 2**53 then loses digits."""
    if dtype.kind not in "iu" or not any(isinstance(value, float) for value in values):
        return False
    return any(isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_IN_FLOAT
               for value in values)


def expected(dtype: np.dtype) -> str:
    name = TYPE_NAMES.get(dtype, str(dtype))
    if dtype.kind == "b":
        return f"{name}: true, false, 0 or 1"
    if dtype.kind == "f":
        return f"{name}: a number within ±{float(np.finfo(dtype).max):.4g}"
    info = np.iinfo(dtype)
    return f"{name}: a whole number from {info.min} to {info.max}"


class CastCheck:
    """Built once per model from its signature; `check_json` and `check_frame` raise BadRequest."""

    def __init__(self, schema: Schema | None) -> None:
        self.by_name: dict[Any, np.dtype] = {}
        self.unnamed: np.dtype | None = None
        self.single: str | None = None  # the one column a bare list of values is taken as
        if schema is None:
            return
        types = [_number_dtype(spec.type) for spec in schema.inputs]
        if schema.has_input_names():
            self.by_name = {name: dtype for name, dtype in zip(schema.input_names(), types) if dtype is not None}
            if len(types) == 1:
                self.single = schema.input_names()[0]
        elif len(set(types)) == 1:
            self.unnamed = types[0]

    def _column(self, name: Any) -> tuple[str, np.dtype | None]:
        if self.unnamed is not None:
            return "inputs", self.unnamed
        if name is None:
            name = self.single
        return str(name), self.by_name.get(name)

    def _check(self, columns: Iterable[tuple[Any, Any]], through_pandas: bool) -> None:
        for name, values in columns:
            field, dtype = self._column(name)
            if dtype is None:
                continue
            scalars = list(_leaves(values))
            if not all(_fits(value, dtype) for value in scalars) or (
                    through_pandas and _through_pandas_is_lossy(scalars, dtype)):
                raise BadRequest(f"column '{quoted_name(field)}' has a number that does not fit its type",
                                 field=quoted_name(field), expected=expected(dtype))

    def check_json(self, key: str, value: Any) -> None:
        """`value` of a JSON request's `key` (dataframe_split, dataframe_records, instances, inputs)."""
        if self.by_name or self.unnamed is not None:
            self._check(_json_columns(key, value), through_pandas=key.startswith("dataframe_"))

    def check_frame(self, frame: pd.DataFrame) -> None:
        """A frame as parsed before any cast (a CSV body read without the signature's dtypes)."""
        if self.by_name or self.unnamed is not None:
            self._check(((name, frame[name].tolist()) for name in frame.columns), through_pandas=False)


def _json_columns(key: str, value: Any) -> Iterator[tuple[Any, Any]]:
    """(column name, its values) of a request as MLflow's parser reads it; None: a bare list."""
    if key == "dataframe_split":
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            yield from _split_columns(value.get("columns"), value["data"])
        return
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        columns: dict[Any, list[Any]] = defaultdict(list)
        for row in value:
            for name, cell in row.items():
                columns[name].append(cell)
        yield from columns.items()
    elif isinstance(value, dict) and key != "dataframe_records":
        yield from value.items()
    elif key != "dataframe_records" or not isinstance(value, list):
        yield None, value
    else:  # records that are not objects: pandas numbers the columns
        yield from _split_columns(None, value)


def _split_columns(columns: Any, rows: list[Any]) -> Iterator[tuple[Any, list[Any]]]:
    if not isinstance(columns, list):
        width = max((len(row) for row in rows if isinstance(row, list)), default=1)
        columns = list(range(width))
    for index, name in enumerate(columns):
        if isinstance(name, (str, int)):
            yield name, [row[index] if isinstance(row, list) else row for row in rows
                         if (isinstance(row, list) and index < len(row)) or (not isinstance(row, list) and index == 0)]
