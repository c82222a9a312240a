"""`python -m ci pipeline-image`: options for `ci.image.job_image.publish` (this project's own job)."""
from __future__ import annotations

import os

import click

from ci import job
from ci.commands import options
from ci.image import job_image as logic
from ci.image.credentials import Credentials, registry_authfile


@click.command("pipeline-image")
@click.option("--repository", envvar="PIPELINE_IMAGE_REPOSITORY", required=True, show_envvar=True,
              help="REGISTRY/PATH of the pipeline image (no tag), e.g. $CI_REGISTRY_IMAGE/pipeline.")
@click.option("--tag", "tags", multiple=True,
              help="Tags to add besides inputs-<hash> [default: the commit (CI_COMMIT_SHA) and, in a tag "
                   "pipeline, the version (CI_COMMIT_TAG)].")
@click.option("--base-image", envvar="PIPELINE_IMAGE_BASE", default=logic.DEFAULT_BASE_IMAGE, show_default=True,
              show_envvar=True, help="The Python base; part of the hash.")
@options.registry_user
def pipeline_image_command(repository: str, tags: tuple[str, ...], base_image: str,
                           registry_user: str | None) -> None:
    """Build and push the pipeline image when its inputs changed; otherwise only add the tags."""
    tags = tags or (job.commit_sha(), os.environ.get("CI_COMMIT_TAG", ""))
    with registry_authfile(repository, Credentials.from_job(registry_user)) as authfile:
        result = logic.publish(repository, tags, base_image=base_image, authfile=authfile)
    click.echo(f"{result.reference} ({'built' if result.rebuilt else 'reused'} in {result.seconds:.1f}s); "
               f"tags: {', '.join(result.tags) or '-'}")
