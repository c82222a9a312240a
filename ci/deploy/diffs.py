"""Field-level differences between two API objects, as readable `path: old -> new` lines (pure).

List items that carry a `name` (containers, env vars, ports, volumes) are keyed by it, so
`spec.template.spec.containers[pyfunc-model].resources.requests.cpu: 100m -> 150m` names the
field a human would look for instead of a list index.
"""
from __future__ import annotations

import json
from typing import Any

MISSING = object()
VALUE_WIDTH = 80


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths -> values; lists of named dicts by name, other lists by index."""
    if isinstance(value, dict):
        if not value:
            return {prefix: {}} if prefix else {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []}
        named = all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in value)
        out = {}
        for index, item in enumerate(value):
            out |= flatten(item, f"{prefix}[{item['name'] if named else index}]")
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 3] + "..."


def changes(before: Any, after: Any, prefix: str = "") -> list[str]:
    """`path: old -> new` for every leaf that differs, sorted by path."""
    old, new = flatten(before or {}, prefix), flatten(after or {}, prefix)
    return [f"{path}: {_show(old.get(path, MISSING))} -> {_show(new.get(path, MISSING))}"
            for path in sorted(old.keys() | new.keys()) if old.get(path, MISSING) != new.get(path, MISSING)]


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Only the paths of `changes` (no values: for messages about someone else's edit)."""
    return [line.split(": ", 1)[0] for line in changes(before, after, prefix)]
