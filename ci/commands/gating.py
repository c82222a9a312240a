"""What every gate command does after its check: print each check, record the verdict on the model
version (`promote` reads it), comment on the merge request, and exit 1 on a miss."""
from __future__ import annotations

import os

import click

from ci import reports
from ci.errors import CheckFailed
from ci.gitlab_api import GitLabApi
from ci.mlflow_api import MlflowApi
from ci.reports import Check


def finish(gate: str, passed: bool, checks: list[Check], summary: dict, *, api: MlflowApi | None,
           model_name: str | None, model_version: str | None) -> None:
    click.echo(reports.text(checks))
    if api is not None and model_name and model_version:
        from ci.registry import record_gate_result

        record_gate_result(model_name, model_version, gate, passed, summary, api=api)
        click.echo(f"recorded {gate} gate result on {model_name} version {model_version}")
    merge_request = os.environ.get("CI_MERGE_REQUEST_IID")
    if merge_request:
        gitlab = GitLabApi.connect(os.environ.get("CI_SERVER_URL"), os.environ.get("GITLAB_API_TOKEN"),
                                   os.environ.get("CI_PROJECT_ID"))
        if gitlab is not None:
            verdict = "passed" if passed else "FAILED"
            gitlab.post_merge_request_note(merge_request, f"**{gate} gate {verdict}**\n\n```\n"
                                                          f"{reports.text(checks)}\n```")
    if not passed:
        failed = ", ".join(check.name for check in checks if not check.passed)
        raise CheckFailed(f"{gate} gate failed ({failed})")
    click.echo(f"{gate} gate passed")


def api_or_none(tracking_uri: str | None) -> MlflowApi | None:
    return MlflowApi(tracking_uri) if tracking_uri else None
