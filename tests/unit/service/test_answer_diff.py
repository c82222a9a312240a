"""service/answer_diff.py: the candidate's answer against stable's, row by row, at stable's precision."""
from __future__ import annotations

import math

import pytest

from service.answer_diff import ANY, MAX_OUTPUTS, NotComparable, compare, rows_of


def test_rows_of_every_answer_shape_are_named_as_metrics_names_them():
    assert rows_of([0.1, 0.2]) == [{"0": 0.1}, {"0": 0.2}]
    assert rows_of([[1, 2], [3, 4]]) == [{"0": 1, "1": 2}, {"0": 3, "1": 4}]
    assert rows_of([{"label": "a", "p": [0.1, 0.9]}]) == [{"label": "a", "p[0]": 0.1, "p[1]": 0.9}]
    assert rows_of({"label": [0, 1], "probabilities": [[0.9, 0.1], [0.2, 0.8]]}) == [
        {"label": 0, "probabilities[0]": 0.9, "probabilities[1]": 0.1},
        {"label": 1, "probabilities[0]": 0.2, "probabilities[1]": 0.8}]
    with pytest.raises(NotComparable):
        rows_of({"total": 3.0})  # one aggregate for the whole call: no rows


def test_a_changed_class_and_a_moved_score_are_counted_per_output_and_per_row():
    stable = [{"label": "approve", "score": 0.25}, {"label": "deny", "score": 0.75},
              {"label": "deny", "score": 0.5}]
    candidate = [{"label": "approve", "score": 0.25}, {"label": "approve", "score": 0.7},
                 {"label": "deny", "score": 0.6}]
    diff = compare(stable, candidate)
    assert diff.rows == 3
    assert diff.changed == {"label": 1, "score": 2, ANY: 2}
    # relative to the larger of the two, as math.isclose's rel_tol
    assert diff.differences["score"] == [(0.0, 0.0), pytest.approx((0.05, 0.05 / 0.75)),
                                         pytest.approx((0.1, 0.1 / 0.6))]


def test_float32_answers_that_differ_in_the_last_digits_are_unchanged():
    stable = [0.8175883293151855, 0.125]  # float32 values, as the service writes them
    candidate = [0.8175883, 0.125]
    diff = compare(stable, candidate)
    assert diff.changed == {} and diff.differences["0"][0][0] < 1e-7


def test_float64_answers_are_compared_beyond_float32s_digits():
    assert compare([0.1234567], [0.1234568]).changed == {"0": 1, ANY: 1}
    assert compare([0.1234567], [0.12345670000001]).changed == {}  # another summation order


def test_integers_are_classes_and_a_type_change_is_a_change():
    assert compare([1, 0, 1], [1, 1, 1]).changed == {"0": 1, ANY: 1}
    assert compare(["1"], [1]).changed == {"0": 1, ANY: 1}
    assert compare([1], [1.0]).changed == {}  # a number, equal at any precision
    assert "0" not in compare([1, 0], [1, 1]).differences  # no differences of classes


def test_an_output_only_one_side_has_is_changed():
    assert compare([{"a": 1}], [{"a": 1, "b": 2}]).changed == {"b": 1, ANY: 1}


def test_another_row_count_is_not_comparable():
    with pytest.raises(NotComparable, match="answered 2 rows for 3"):
        compare([1, 2, 3], [1, 2])


def test_relative_differences_are_against_the_larger_value_so_a_stable_zero_is_measured():
    diff = compare([0.0, 0.5, 1.5, 0.0, -0.25], [0.5, 0.5, math.inf, 0.0, 0.25])
    # 0 -> 0.5 is a whole change (1.0), not an unbounded one; a sign flip is 2; infinities are changed,
    # not measured
    assert diff.differences["0"] == [(0.5, 1.0), (0.0, 0.0), (0.0, 0.0), (0.5, 2.0)]
    assert diff.changed == {"0": 3, ANY: 3}


def test_outputs_past_the_cap_count_only_in_any():
    stable = [[0.5] * (MAX_OUTPUTS + 4)]
    candidate = [[0.5] * MAX_OUTPUTS + [0.6] * 4]
    diff = compare(stable, candidate)
    assert diff.changed == {ANY: 1} and len(diff.differences) == MAX_OUTPUTS
