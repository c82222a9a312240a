"""One recorder for every gate: `<gate>.json` and `<gate>-junit.xml`, the verdict as a registry tag on
the model version (`promote` reads it) and, in a merge-request pipeline, a note on the merge request."""
from __future__ import annotations

from pathlib import Path

from ci import job, reports
from ci.clients.mlflow_api import MlflowApi
from ci.gates.result import GateResult
from ci.registry.gate_tags import record_gate_result
from ci.registry.model_ref import ModelRef


def record(result: GateResult, output_dir: Path, *, api: MlflowApi | None, model: ModelRef | None) -> list[str]:
    """Write, tag and comment; returns what was done, one line each. A gate is recorded on the
    registry only when both a tracking server and a model version are known."""
    output_dir = Path(output_dir)
    done = [f"wrote {path}" for path in reports.write(output_dir, result.gate, result.passed, result.checks,
                                                       result.seconds, **result.report)]
    if api is not None and model is not None and model.name and model.version:
        record_gate_result(model.name, model.version, result.gate, result.passed,
                           {"passed": result.passed, **result.summary}, api=api)
        done.append(f"recorded {result.gate} gate result on {model.name} version {model.version}")
    merge_request = job.merge_request()
    gitlab = job.gitlab() if merge_request else None
    if gitlab is not None:
        verdict = "passed" if result.passed else "FAILED"
        gitlab.post_merge_request_note(merge_request, f"**{result.gate} gate {verdict}**\n\n```\n"
                                                      f"{reports.text(result.checks)}\n```")
        done.append(f"commented on merge request !{merge_request}")
    return done
