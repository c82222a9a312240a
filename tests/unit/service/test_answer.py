"""service/core.py `answer`: as many predictions as rows sent, or a ModelError naming both."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.core import answer, answered_rows
from service.errors import ModelError


@pytest.mark.parametrize(("predictions", "rows"), [
    (pd.DataFrame({"a": [1, 2, 3]}), 3), (pd.Series([1.0, 2.0]), 2), (np.zeros((4, 2), dtype=np.float32), 4),
    ([{"score": 1}], 1), ((1, 2), 2), ({"probabilities": np.zeros((3, 2)), "label": np.zeros(3)}, 3),
    ({"predictions": [{"score": 1}, {"score": 2}]}, 2),
    (np.float64(0.5), None), ("a sentence", None), (7, None), ({"total": 3.0, "labels": ["a", "b"]}, None), ({}, None),
])
def test_rows_are_counted_where_the_answer_has_a_row_axis(predictions, rows):
    assert answered_rows(predictions) == rows


def test_another_number_of_rows_is_a_model_error_naming_both():
    assert answer(pd.DataFrame({"a": [1, 2]}), 2).rows == 2
    assert answer("one sentence for the batch", 3).rows == 3  # nothing to count: answered as it is
    with pytest.raises(ModelError, match=r"^the model answered 3 rows for the 1 rows sent; quote error_id"):
        answer(pd.DataFrame({"a": [1, 2, 3]}), 1)
