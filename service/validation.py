"""Check one parsed request against the model signature before it reaches the model.

`mlflow models serve` lets the model's own schema enforcement fail and quotes the data in the
error; here each request is checked on its own (so in a micro-batch one bad request never fails
another) and the error names the column and what it should be. Nulls in a required column are
refused too: the model would fail on them with a 5xx.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.types import DataType, Schema

from service.errors import BadRequest, quoted_name
from service.mlflow_compat import enforce_mlflow_datatype, enforce_schema

# Tree models (sklearn, xgboost, lightgbm) compute in float32 and fail on anything larger: a value
# outside this range is refused as bad input instead of becoming a 5xx inside the model.
FLOAT_LIMIT = float(np.finfo(np.float32).max)
FLOAT_TYPES = (DataType.float, DataType.double)
NUMERIC_TYPES = (*FLOAT_TYPES, DataType.integer, DataType.long, DataType.boolean)


def type_name(col_type: Any) -> str:
    """`double`, not `DataType.double`: the name a client sees in the signature."""
    return col_type.name if isinstance(col_type, DataType) else str(col_type)


def _as_frame(data: Any) -> pd.DataFrame | None:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return pd.DataFrame(data)
    if isinstance(data, dict):
        try:
            scalar = all(not isinstance(value, (list, dict)) and not hasattr(value, "shape")
                         for value in data.values())
            return pd.DataFrame([data] if scalar else data)
        except (ValueError, TypeError):
            return None
    return None


def _check_columns(frame: pd.DataFrame, schema: Schema) -> None:
    spec = schema.input_dict()
    names = [str(column) for column in frame.columns]
    columns = set(names)
    if len(columns) < len(names):
        repeated = quoted_name(min(name for name in columns if names.count(name) > 1))
        raise BadRequest(f"column '{repeated}' appears more than once", field=repeated, expected="unique columns")
    for unknown in sorted(columns - spec.keys()):
        raise BadRequest(f"unknown column '{quoted_name(unknown)}'", field=quoted_name(unknown),
                         expected="one of " + ", ".join(schema.input_names()))
    for name, col in spec.items():
        if name not in columns:
            if col.required:
                raise BadRequest(f"missing required column '{name}'", field=name,
                                 expected=type_name(col.type))
            continue
        values = frame[name]
        if col.required and values.isna().any():
            raise BadRequest(f"column '{name}' has a null or NaN value", field=name,
                             expected=f"{type_name(col.type)}, not null")
        if isinstance(col.type, DataType):
            try:
                enforce_mlflow_datatype(name, values, col.type)
                if col.type in NUMERIC_TYPES and not pd.api.types.is_numeric_dtype(values):
                    raise TypeError("not numeric")  # e.g. lists inside an object column
            except Exception:  # noqa: BLE001 - mlflow's message may quote values
                raise BadRequest(f"column '{name}' has the wrong type", field=name,
                                 expected=type_name(col.type)) from None
            if col.type == DataType.string and not all(isinstance(value, str) for value in values):
                raise BadRequest(f"column '{name}' has a value that is not a string", field=name,
                                 expected="string")
            if col.type in FLOAT_TYPES and \
                    not (values.abs() <= FLOAT_LIMIT).all():
                raise BadRequest(f"column '{name}' has a value out of range", field=name,
                                 expected=f"a finite {type_name(col.type)} within ±{FLOAT_LIMIT:.4g}")


def validate(data: Any, schema: Schema | None) -> None:
    """Raise BadRequest (naming the field) unless `data` satisfies `schema`."""
    if schema is None:
        return
    if schema.has_input_names() and not schema.is_tensor_spec():
        frame = _as_frame(data)
        if frame is None:
            raise BadRequest("the input is not a table of the signature's columns", field="inputs",
                             expected="one value per column and row: " + ", ".join(schema.input_names()))
        _check_columns(frame, schema)
        return
    try:
        enforce_schema(data, schema)
    except Exception:  # noqa: BLE001 - tensor or unnamed schemas: no single column to blame
        names = schema.input_names() if schema.has_input_names() else []
        field = names[0] if len(names) == 1 else "inputs"
        raise BadRequest("the input does not match the model signature", field=field,
                         expected=str(schema.to_dict())) from None
