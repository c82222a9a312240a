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


Columns = dict[str, list]  # column name -> its checked values, in the signature's order


class FastParser:
    """Built once per model from its signature. `columns` checks a request and returns its columns
    (no frame yet: under micro-batching one frame is built per batch, ~0.1 ms less per request);
    `frame` builds the frame of one or more requests' columns; `parse` is both."""

    def __init__(self, schema: Schema | None) -> None:
        self.types: dict[str, DataType] = {}
        if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
            return
        spec = schema.inputs
        if all(col.required and col.type in (*DTYPES, DataType.string) for col in spec):
            self.types = {col.name: col.type for col in spec}

    def parse(self, key: str, value: Any) -> pd.DataFrame | None:
        columns = self.columns(key, value)
        return None if columns is None else self.frame([columns])

    def columns(self, key: str, value: Any) -> Columns | None:
        if not self.types:
            return None
        if key == "dataframe_split":
            return self._split(value)
        if key == "dataframe_records":
            return self._records(value)
        return None

    def frame(self, parts: list[Columns]) -> pd.DataFrame:
        """One frame of the rows of every part (requests' `columns`, in order), with the dtypes MLflow's
        casting gives: the frame of a single part, or their `pd.concat(..., ignore_index=True)`."""
        arrays = {}
        for name, col_type in self.types.items():
            values = parts[0][name] if len(parts) == 1 else [value for part in parts for value in part[name]]
            arrays[name] = values if col_type == DataType.string else np.array(values, dtype=DTYPES[col_type])
        return pd.DataFrame(arrays, copy=False)

    def _split(self, value: Any) -> Columns | None:
        if not isinstance(value, dict) or value.keys() != {"columns", "data"}:
            return None
        columns, data = value["columns"], value["data"]
        if not self._known(columns) or not isinstance(data, list) or not data:
            return None
        width = len(columns)
        if not all(type(row) is list and len(row) == width for row in data):
            return None
        return self._checked(columns, [[row[i] for row in data] for i in range(width)])

    def _records(self, value: Any) -> Columns | None:
        if not isinstance(value, list) or not value or type(value[0]) is not dict:
            return None
        columns = list(value[0])
        if not self._known(columns):
            return None
        keys = value[0].keys()
        if not all(type(row) is dict and row.keys() == keys for row in value):
            return None
        return self._checked(columns, [[row[name] for row in value] for name in columns])

    def _known(self, columns: Any) -> bool:
        """Exactly the signature's columns, each once, in any order."""
        return (isinstance(columns, list) and len(columns) == len(self.types)
                and all(type(name) is str for name in columns) and set(columns) == self.types.keys())

    def _checked(self, columns: list[str], values: list[list[Any]]) -> Columns | None:
        given = dict(zip(columns, values))
        if not all(_plain(col_type, given[name]) for name, col_type in self.types.items()):
            return None
        return {name: given[name] for name in self.types}


def _plain(col_type: DataType, values: list[Any]) -> bool:
    """Is every value plainly of `col_type`, so that MLflow's cast keeps it as it is."""
    if col_type == DataType.string:
        return all(type(value) is str for value in values)
    if col_type == DataType.boolean:
        return all(type(value) is bool for value in values)
    if col_type in INT_LIMITS:
        low, high = INT_LIMITS[col_type]
        return all(type(value) is int and low <= value <= high for value in values)
    # double / float: ints are accepted as MLflow casts them; bools, nulls, NaN, ±inf, huge are not
    return all((type(value) is float and math.isfinite(value) and -FLOAT_LIMIT <= value <= FLOAT_LIMIT)
               or (type(value) is int and -EXACT_INT <= value <= EXACT_INT) for value in values)
