"""Gate verdicts as model-version tags: written by each gate, read by `promote`."""
from __future__ import annotations

import json

from ci.clients.mlflow_api import MlflowApi
from ci.errors import ConfigError
from ci.registry.versions import client

GATE_TAG_PREFIX = "pyfunc_deploy.gate."
REQUIRED_GATES = ("load", "signature", "latency")


def gate_tag(gate: str) -> str:
    return f"{GATE_TAG_PREFIX}{gate}"


def record_gate_result(name: str, version: str, gate: str, passed: bool, summary: dict, *,
                       api: MlflowApi | None = None) -> dict[str, str]:
    """Write a gate's verdict on the version; `promote` reads it. Returns the tags written."""
    if gate not in REQUIRED_GATES:
        raise ConfigError(f"unknown gate {gate!r}: one of {', '.join(REQUIRED_GATES)}")
    api = client(api)
    tags = {gate_tag(gate): "passed" if passed else "failed",
            f"{gate_tag(gate)}.summary": json.dumps(summary, sort_keys=True, default=str)}
    for key, value in tags.items():
        api.set_version_tag(name, str(version), key, value)
    return tags


def gate_results(tags: dict[str, str]) -> dict[str, str]:
    """`passed` / `failed` / `missing` for each required gate, from a version's tags."""
    return {gate: tags.get(gate_tag(gate), "missing") for gate in REQUIRED_GATES}
