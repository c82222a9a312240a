"""service/fastpath.py: which signatures get a fast parser, and the dtypes and order of the frame it
builds (cases beyond tests/service/test_fastpath.py, which compares it with MLflow's own path)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from service.fastpath import FastParser

SCHEMA = Schema([ColSpec(DataType.integer, "i"), ColSpec(DataType.float, "f"), ColSpec(DataType.string, "s")])


@pytest.mark.parametrize(("schema", "fast"), [
    pytest.param(SCHEMA, True, id="scalar-required-columns"),
    pytest.param(None, False, id="no-schema"),
    pytest.param(Schema([ColSpec(DataType.double)]), False, id="unnamed"),
    pytest.param(Schema([TensorSpec(np.dtype("float64"), (-1, 2), "t")]), False, id="tensor"),
    pytest.param(Schema([ColSpec(DataType.double, "d"), ColSpec(DataType.binary, "raw")]), False, id="binary-column"),
    pytest.param(Schema([ColSpec(DataType.double, "d"), ColSpec(DataType.string, "o", required=False)]), False,
                 id="one-optional-column"),
])
def test_which_signatures_are_fast(schema, fast):
    assert bool(FastParser(schema).types) is fast


def test_the_frame_has_signature_order_and_dtypes():
    frame = FastParser(SCHEMA).parse("dataframe_records", [{"s": "a", "f": 1, "i": 2}, {"s": "b", "f": 0.5, "i": -3}])
    assert list(frame.columns) == ["i", "f", "s"]
    assert [str(frame[c].dtype) for c in ("i", "f")] == ["int32", "float32"]
    assert frame["i"].tolist() == [2, -3] and frame["f"].tolist() == [1.0, 0.5] and frame["s"].tolist() == ["a", "b"]


@pytest.mark.parametrize(("key", "value"), [
    pytest.param("dataframe_split", {"columns": ["i", "f", "s"], "data": []}, id="split-no-rows"),
    pytest.param("dataframe_split", {"columns": ["i", "f", "s"]}, id="split-without-data"),
    pytest.param("dataframe_split", [[1, 1.0, "a"]], id="split-not-an-object"),
    pytest.param("dataframe_split", {"columns": ["i", "f", "s"], "data": [(1, 1.0, "a")]}, id="tuple-row"),
    pytest.param("dataframe_split", {"columns": ["i", "f", 3], "data": [[1, 1.0, "a"]]}, id="non-string-column"),
    pytest.param("dataframe_records", [], id="records-empty"),
    pytest.param("dataframe_records", [{"i": 1, "f": 1.0, "s": "a"}, [1, 1.0, "a"]], id="records-mixed"),
    pytest.param("dataframe_records", {"i": 1, "f": 1.0, "s": "a"}, id="records-not-a-list"),
    pytest.param("dataframe_records", [{"i": 2**31, "f": 1.0, "s": "a"}], id="beyond-int32"),
    pytest.param("dataframe_records", [{"i": 1, "f": float("inf"), "s": "a"}], id="infinite-float"),
    pytest.param("dataframe_records", [{"i": True, "f": 1.0, "s": "a"}], id="bool-in-int"),
    pytest.param("instances", [{"i": 1, "f": 1.0, "s": "a"}], id="other-format"),
])
def test_falls_back(key, value):
    assert FastParser(SCHEMA).parse(key, value) is None


def test_without_types_nothing_is_fast():
    assert FastParser(None).parse("dataframe_records", [{"i": 1}]) is None


def test_one_frame_of_many_requests_is_their_frames_concatenated():
    """Micro-batching builds one frame of many requests' columns: the very frame (values, dtypes,
    index) that concatenating each request's own frame gives."""
    schema = Schema([ColSpec(DataType.double, "d"), ColSpec(DataType.float, "f"), ColSpec(DataType.long, "l"),
                     ColSpec(DataType.integer, "i"), ColSpec(DataType.string, "s"), ColSpec(DataType.boolean, "b")])
    parser = FastParser(schema)
    requests = [[{"b": True, "s": "x", "i": 1, "l": 2**40, "f": 0.5, "d": 1}],
                [{"d": -2.5, "f": 3, "l": -1, "i": -(2**31), "s": "", "b": False},
                 {"d": 1e38, "f": 1e30, "l": 0, "i": 7, "s": "é", "b": True}],
                [{"d": 0.1, "f": 0.1, "l": 2**53, "i": 0, "s": "z", "b": False}]]
    columns = [parser.columns("dataframe_records", request) for request in requests]
    batch = parser.frame(columns)
    pd.testing.assert_frame_equal(batch, pd.concat([parser.frame([c]) for c in columns], ignore_index=True),
                                  check_exact=True, check_index_type=True, check_column_type=True)
    assert list(batch.columns) == ["d", "f", "l", "i", "s", "b"] and len(batch) == 4
