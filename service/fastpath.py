"""The fast parse of the common request, straight to the frame MLflow's schema enforcement gives.

The common request: `dataframe_split` / `dataframe_records` JSON whose columns are exactly the
signature's scalar columns, every value of the right Python type, no nulls.

The frame is built column by column, in the signature's order, with the dtype MLflow's casting would
give: exactly the frame MLflow's schema enforcement hands the model (so `service.core` can skip that
enforcement), and the checks of `service.validation` are done in the same pass. Anything else (an
`index`, a missing, unknown or repeated column, a null, an int in a string column, a value out of
range, a tensor or optional column...) returns None and the request takes the general path, which
parses it exactly as `mlflow models serve` does and words the error. So this path only ever
accepts, never refuses.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from mlflow.types import DataType, Schema

from service.validation import FLOAT_LIMIT

INT_LIMITS = {DataType.long: (-(2**63), 2**63 - 1), DataType.integer: (-(2**31), 2**31 - 1)}
EXACT_INT = 2**53  # larger ints are left to the general path rather than rounded here
DTYPES = {DataType.double: np.float64, DataType.float: np.float32, DataType.long: np.int64,
          DataType.integer: np.int32, DataType.boolean: np.bool_}


class FastParser:
    """Built once per model from its signature; `parse` returns a DataFrame or None."""

    def __init__(self, schema: Schema | None) -> None:
        self.types: dict[str, DataType] = {}
        if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
            return
        spec = schema.inputs
        if all(col.required and col.type in (*DTYPES, DataType.string) for col in spec):
            self.types = {col.name: col.type for col in spec}

    def parse(self, key: str, value: Any) -> pd.DataFrame | None:
        if not self.types:
            return None
        if key == "dataframe_split":
            return self._split(value)
        if key == "dataframe_records":
            return self._records(value)
        return None

    def _split(self, value: Any) -> pd.DataFrame | None:
        if not isinstance(value, dict) or value.keys() != {"columns", "data"}:
            return None
        columns, data = value["columns"], value["data"]
        if not self._known(columns) or not isinstance(data, list) or not data:
            return None
        width = len(columns)
        if not all(type(row) is list and len(row) == width for row in data):
            return None
        return self._frame(columns, [[row[i] for row in data] for i in range(width)])

    def _records(self, value: Any) -> pd.DataFrame | None:
        if not isinstance(value, list) or not value or type(value[0]) is not dict:
            return None
        columns = list(value[0])
        if not self._known(columns):
            return None
        keys = value[0].keys()
        if not all(type(row) is dict and row.keys() == keys for row in value):
            return None
        return self._frame(columns, [[row[name] for row in value] for name in columns])

    def _known(self, columns: Any) -> bool:
        """Exactly the signature's columns, each once, in any order."""
        return (isinstance(columns, list) and len(columns) == len(self.types)
                and all(type(name) is str for name in columns) and set(columns) == self.types.keys())

    def _frame(self, columns: list[str], values: list[list[Any]]) -> pd.DataFrame | None:
        arrays = {}
        for name, column in zip(columns, values):
            array = _column(self.types[name], column)
            if array is None:
                return None
            arrays[name] = array
        return pd.DataFrame({name: arrays[name] for name in self.types}, copy=False)


def _column(col_type: DataType, values: list[Any]) -> Any:
    """The column as MLflow would cast it, or None if any value is not plainly of `col_type`."""
    if col_type == DataType.string:
        return values if all(type(value) is str for value in values) else None
    if col_type == DataType.boolean:
        return np.array(values, dtype=np.bool_) if all(type(value) is bool for value in values) else None
    if col_type in INT_LIMITS:
        low, high = INT_LIMITS[col_type]
        if not all(type(value) is int and low <= value <= high for value in values):
            return None
        return np.array(values, dtype=DTYPES[col_type])
    # double / float: ints are accepted as MLflow casts them; bools, nulls, NaN, ±inf, huge are not
    if not all((type(value) is float and math.isfinite(value) and -FLOAT_LIMIT <= value <= FLOAT_LIMIT)
               or (type(value) is int and -EXACT_INT <= value <= EXACT_INT) for value in values):
        return None
    return np.array(values, dtype=DTYPES[col_type])
