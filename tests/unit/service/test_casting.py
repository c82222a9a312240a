"""service/casting.py: a number that a column's type cannot hold exactly is refused, naming the column,
in every request shape and for every number type (integer widths, boolean, float, tensors)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from mlflow.types.schema import Array

from service.casting import CastCheck
from service.errors import BadRequest

TABLE = Schema([ColSpec(DataType.long, "n"), ColSpec(DataType.integer, "i"), ColSpec(DataType.boolean, "b"),
                ColSpec(DataType.float, "f"), ColSpec(DataType.double, "d"), ColSpec(DataType.string, "s"),
                ColSpec(Array(DataType.long), "a", required=False)])


@pytest.mark.parametrize(("column", "value"), [
    ("n", 2**63), ("n", -(2**63) - 1), ("n", 2.5), ("n", 1e19), ("n", float("inf")),
    ("i", 2**31), ("i", -(2**31) - 1), ("i", 0.1),
    ("b", 2), ("b", -1), ("b", 0.5), ("b", "false"),
    ("f", 1e39), ("f", 10**39), ("d", 10**309),
    ("a", [1, 2.5]), ("a", [[2**64]]),
])
def test_a_value_the_type_cannot_hold_is_refused_in_every_format(column, value):
    check = CastCheck(TABLE)
    for key, document in [
        ("dataframe_split", {"columns": [column], "data": [[value]]}),
        ("dataframe_records", [{column: value}]),
        ("instances", [{column: value}]),
        ("inputs", {column: [value]}),
        ("inputs", {column: value}),
    ]:
        with pytest.raises(BadRequest) as refused:
            check.check_json(key, document)
        assert refused.value.field == column, key
        assert str(value) not in refused.value.message


@pytest.mark.parametrize(("column", "value"), [
    ("n", 2**63 - 1), ("n", -(2**63)), ("n", 3.0), ("n", True), ("n", "3"), ("n", None), ("n", float("nan")),
    ("i", 2**31 - 1), ("b", True), ("b", 0), ("b", 1.0), ("f", 3.4e38), ("f", 0.1), ("d", 2**70),
    ("s", 2.5), ("s", 10**40), ("a", [1, 2]), ("unknown", 2.5),
])
def test_a_value_that_fits_or_is_no_number_is_left_alone(column, value):
    check = CastCheck(TABLE)
    check.check_json("dataframe_split", {"columns": [column], "data": [[value]]})
    check.check_json("inputs", {column: [value]})


def test_ints_beyond_2_53_beside_a_float_lose_digits_through_pandas_only():
    check = CastCheck(TABLE)
    mixed = [{"n": 2**62 + 1}, {"n": 1.0}]
    with pytest.raises(BadRequest):
        check.check_json("dataframe_records", mixed)
    check.check_json("inputs", mixed)  # numpy converts each value on its own: exact


def test_positional_split_a_bare_list_and_tensors():
    with pytest.raises(BadRequest) as refused:
        CastCheck(Schema([ColSpec(DataType.long, "only")])).check_json("inputs", [1, 2.5])
    assert refused.value.field == "only"
    tensor = CastCheck(Schema([TensorSpec(np.dtype(np.int32), (-1, 2))]))
    with pytest.raises(BadRequest) as refused:
        tensor.check_json("inputs", [[1, 2], [3, 2**40]])
    assert refused.value.field == "inputs" and refused.value.expected.startswith("integer: ")
    tensor.check_json("instances", [[1, 2], [3, 4]])
    with pytest.raises(BadRequest):
        tensor.check_json("dataframe_split", {"data": [[1, 0.5]]})


def test_a_raw_frame_is_checked_by_column():
    check = CastCheck(TABLE)
    with pytest.raises(BadRequest) as refused:
        check.check_frame(pd.DataFrame({"s": ["x"], "n": [2.5]}))
    assert refused.value.field == "n" and refused.value.expected.startswith("long: a whole number from")
    check.check_frame(pd.DataFrame({"n": [2.0, 3.0], "d": [0.5, 1e300]}))


def test_no_schema_or_no_number_column_checks_nothing():
    CastCheck(None).check_json("inputs", {"x": [2.5]})
    CastCheck(Schema([ColSpec(DataType.string, "s")])).check_json("inputs", {"s": [2.5]})
