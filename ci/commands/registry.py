"""`python -m ci resolve | promote | rollback | preflight`: options for `ci.registry` and
`ci.image.preflight`, one line printed each."""
from __future__ import annotations

from pathlib import Path

import click

from ci import job
from ci.clients.mlflow_api import MlflowApi
from ci.commands import options
from ci.commands.failure_alert import alert_on_failure
from ci.errors import CheckFailed
from ci.image import preflight as preflight_logic
from ci.outputs import write_json
from ci.registry import promotion, resolution


@click.command()
@options.tracking_uri
@options.model_name
@options.selector
@options.registration_timeout
@click.option("--commit-sha", envvar="CI_COMMIT_SHA", show_envvar=True,
              help="Commit for the image tag (first 8 characters). Default: `git rev-parse HEAD`.")
@options.output_dir
def resolve(tracking_uri: str, model_name: str, selector: str | None, registration_timeout: float,
            commit_sha: str | None, output_dir: str) -> None:
    """Find the exact model version to deploy; write model.env (dotenv) and model.json.

    model.env: MODEL_NAME, MODEL_VERSION, MODEL_RUN_ID, MODEL_SOURCE, MODEL_URI (models:/NAME/VERSION)
    and IMAGE_TAG (<model>-v<version>-<commit>). Fails (1) for an unknown model, a model without
    versions, an alias or stage that names nothing, or a version that never becomes READY.
    """
    commit = job.short_commit(commit_sha)
    model = resolution.resolve(model_name, selector, api=MlflowApi(tracking_uri),
                               registration_timeout=registration_timeout)
    variables = resolution.write_outputs(model, commit, Path(output_dir))
    click.echo(f"{model.name} {model.selector} -> version {model.version} ({model.resolved_by}), "
               f"run {model.run_id}, image tag {variables['IMAGE_TAG']}; "
               f"wrote {Path(output_dir) / resolution.MODEL_ENV}")


@click.command()
@options.tracking_uri
@options.model_name
@click.option("--version", "version", envvar="MODEL_VERSION", required=True, show_envvar=True,
              help="The version to promote (resolve's model.env sets MODEL_VERSION).")
@options.promote_target
@click.option("--force", is_flag=True, envvar="PROMOTE_SKIP_GATES", show_envvar=True,
              help="Promote even if the load/signature/latency gates did not pass (audited).")
@options.output_dir
@alert_on_failure("promote failed", version="version", environment=lambda params: params["target"])
def promote(tracking_uri: str, model_name: str, version: str, target: str, force: bool,
            output_dir: str) -> None:
    """Point an alias (or the legacy stage) at a READY version whose gates passed; audit it."""
    result = promotion.promote(model_name, version, target, force=force, api=MlflowApi(tracking_uri))
    write_json(Path(output_dir) / "promote.json", result)
    if not result.changed:
        click.echo(f"{model_name} {result.target} already points to version {version}; nothing to do")
        return
    forced = " (gates overridden)" if result.audit.forced else ""
    click.echo(f"{model_name} {result.target}: version {result.from_version or '(none)'} -> "
               f"{result.to_version}{forced}")


@click.command()
@options.tracking_uri
@options.model_name
@options.promote_target
@options.output_dir
def rollback(tracking_uri: str, model_name: str, target: str, output_dir: str) -> None:
    """Point the alias (or stage) back at the version it held before, from the audit entries."""
    result = promotion.rollback(model_name, target, api=MlflowApi(tracking_uri))
    write_json(Path(output_dir) / "rollback.json", result)
    click.echo(f"{model_name} {result.target}: rolled back from version {result.from_version} "
               f"to {result.to_version}; the next pipeline redeploys it")


@click.command()
@options.tracking_uri
@options.model_name
@options.selector
@options.registration_timeout
@click.option("--image-requirements", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A fixed image's pinned requirements (the first file that pins a package wins) instead of "
                   "what pip resolves for the model's image (the default: a `pip install --dry-run` for the "
                   "model's Python).")
@options.drop_requirements
@options.package_indexes
@options.output_dir
def preflight(tracking_uri: str, model_name: str, selector: str | None, registration_timeout: float,
              image_requirements: tuple[Path, ...], drop_requirements: str, package_indexes: str,
              output_dir: str) -> None:
    """Check the server, the registry, the model's Python (3.9–3.13) and what the image will install."""
    report = preflight_logic.preflight(
        model_name, selector, api=MlflowApi(tracking_uri), image_requirements=list(image_requirements),
        registration_timeout=registration_timeout, drop_requirements=drop_requirements,
        package_indexes=package_indexes)
    write_json(Path(output_dir) / "preflight.json", report)
    for finding in report.findings:
        click.echo(f"{finding.level.upper():4} {finding.message}", err=finding.level != "ok")
    if report.failures:
        raise CheckFailed(
            f"preflight: {len(report.failures)} mismatch(es) would break loading {model_name} version "
            f"{report.model_version} in the image: "
            + "; ".join(f.message.split(":")[0] for f in report.failures))
    click.echo(f"preflight passed for {model_name} version {report.model_version}")
