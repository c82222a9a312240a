"""The OpenAPI operation of /invocations, built from the model signature.

For /docs and for schemathesis: it describes the MLflow scoring protocol's four JSON formats and CSV.
"""
from __future__ import annotations

from typing import Any

from mlflow.types import DataType, Schema

from service.validation import FLOAT_LIMIT

JSON_TYPES = {
    DataType.boolean: {"type": "boolean"},
    DataType.integer: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    DataType.long: {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    DataType.float: {"type": "number", "minimum": -FLOAT_LIMIT, "maximum": FLOAT_LIMIT},
    DataType.double: {"type": "number", "minimum": -FLOAT_LIMIT, "maximum": FLOAT_LIMIT},
    DataType.string: {"type": "string"},
    DataType.binary: {"type": "string", "format": "byte"},
    DataType.datetime: {"type": "string", "format": "date-time"},
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {key: {"type": "string"} for key in
                   ("error_code", "message", "field", "expected", "error_id", "request_id")},
}


def _column(col_type: Any) -> dict[str, Any]:
    return dict(JSON_TYPES.get(col_type, {}))


def _records(schema: Schema, max_rows: int) -> dict[str, Any]:
    columns = schema.input_dict()
    return {"type": "array", "minItems": 1, "maxItems": max_rows, "items": {
        "type": "object", "additionalProperties": False,
        "properties": {name: _column(col.type) for name, col in columns.items()},
        "required": [name for name, col in columns.items() if col.required]}}


def _split(schema: Schema, max_rows: int) -> dict[str, Any]:
    names = schema.input_names()
    return {"type": "object", "required": ["columns", "data"], "additionalProperties": False,
            "properties": {
                "columns": {"type": "array", "items": {"type": "string", "enum": names}},
                "index": {"type": "array"},
                "data": {"type": "array", "minItems": 1, "maxItems": max_rows, "items": {
                    "type": "array", "prefixItems": [_column(t) for t in schema.input_types()],
                    "minItems": len(names), "maxItems": len(names)}}}}


def _wrapped(key: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "additionalProperties": False,
            "properties": {key: inner, "params": {"type": "object"}}}


def invocations_operation(schema: Schema | None, max_rows: int) -> dict[str, Any]:
    """`openapi_extra` for POST /invocations: request body and the error responses."""
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        records = _records(schema, max_rows)
        body = {"oneOf": [_wrapped("dataframe_split", _split(schema, max_rows)),
                          _wrapped("dataframe_records", records),
                          _wrapped("instances", records), _wrapped("inputs", records)]}
    else:
        body = {"type": "object", "minProperties": 1}
    error = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
    return {
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": body},
            "text/csv": {"schema": {"type": "string"}}}},
        "responses": {
            "200": {"description": "Predictions", "content": {"application/json": {"schema": {
                "type": "object", "required": ["predictions"], "properties": {"predictions": {}}}}}},
            "400": {"description": "Invalid input; `field` names what is wrong", **error},
            "413": {"description": "Body over the size limit", **error},
            "415": {"description": "Unsupported Content-Type", **error},
            "500": {"description": "The model failed; `error_id` is in the log", **error},
        },
    }
