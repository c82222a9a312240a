"""ci/deploy/diffs.py: readable field paths of what changed between two API objects."""
from __future__ import annotations

import pytest

from ci.deploy.diffs import changed_paths, changes, flatten


def test_flatten_keys_named_list_items_by_name():
    assert flatten({"containers": [{"name": "m", "env": [{"name": "A", "value": "1"}]}], "args": ["x", "y"],
                    "empty": {}, "none": []}) == {
        "containers[m].name": "m", "containers[m].env[A].value": "1", "containers[m].env[A].name": "A",
        "args[0]": "x", "args[1]": "y", "empty": {}, "none": []}


@pytest.mark.parametrize(("before", "after", "expected"), [
    pytest.param({"a": 1}, {"a": 1}, [], id="same"),
    pytest.param({"spec": {"maxReplicas": 3}}, {"spec": {"maxReplicas": 4}}, ["spec.maxReplicas: 3 -> 4"], id="int"),
    pytest.param({"env": [{"name": "A", "value": "1"}]}, {"env": [{"name": "A", "value": "1"}, {"name": "B",
                                                                                                 "value": "2"}]},
                 ["env[B].name: (unset) -> B", "env[B].value: (unset) -> 2"], id="added-by-name"),
    pytest.param({"x": "gone"}, {}, ["x: gone -> (unset)"], id="removed"),
    pytest.param(None, {"x": True}, ["x: (unset) -> true"], id="created"),
    pytest.param({"x": "a" * 100}, {"x": "b"}, ["x: " + "a" * 77 + "... -> b"], id="long-value-shortened"),
])
def test_changes(before, after, expected):
    assert changes(before, after) == expected


def test_changed_paths_have_the_prefix_and_no_values():
    assert changed_paths({"image": "secret-ish:1"}, {"image": "b:2"}, "spec.template") == ["spec.template.image"]
