"""`python -m ci build`: options for `ci.image.build.build_and_report`."""
from __future__ import annotations

from pathlib import Path

import click

from ci import job
from ci.commands import options
from ci.image import build as logic
from ci.image.credentials import Credentials
from ci.image.requirements import DEFAULT_BASE_IMAGE_PATTERN
from ci.project import SERVICE_DIR
from ci.registry.model_ref import ModelRef


@click.command("build")
@options.tracking_uri
@options.model_name
@options.model_version("The resolved version (from `ci resolve`'s dotenv).")
@click.option("--run-id", envvar="MODEL_RUN_ID", default="", show_envvar=True,
              help="The version's run id; part of the key that decides rebuild or retag.")
@click.option("--image-repository", envvar=["IMAGE_REPOSITORY", "CI_REGISTRY_IMAGE"], required=True,
              show_envvar=True, help="REGISTRY/PATH the image is pushed to (no tag).")
@click.option("--commit", envvar="CI_COMMIT_SHA", show_envvar=True, help="Source commit [default: HEAD].")
@click.option("--service-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=SERVICE_DIR, show_default=True, help="Service source with its Dockerfile.")
@options.registry_user
@click.option("--docker-config", envvar="DOCKER_CONFIG", show_envvar=True,
              type=click.Path(exists=True, path_type=Path),
              help="Docker config dir or file with registry auths (instead of user/password).")
@click.option("--builder", envvar="IMAGE_BUILDER", type=click.Choice(list(logic.BUILDERS)),
              default=logic.DEFAULT_BUILDER, show_default=True, show_envvar=True,
              help="buildah (daemonless), docker (a Docker engine, or podman's API via DOCKER_HOST) or kaniko "
                   "(inside its executor image; KANIKO_EXECUTOR names the binary).")
@click.option("--source-url", envvar="CI_PROJECT_URL", default="", show_envvar=True,
              help="Project URL for the image's org.opencontainers.image.source label.")
@click.option("--base-image-pattern", envvar="BASE_IMAGE_PATTERN", default=DEFAULT_BASE_IMAGE_PATTERN,
              show_default=True, show_envvar=True,
              help="Base image for the model's Python minor ({python} = 3.9 ... 3.13); pin by digest with "
                   "MINOR=IMAGE pairs, e.g. '3.9=REG/python@sha256:...,3.11=REG/python@sha256:...'.")
@click.option("--system-packages", envvar="IMAGE_SYSTEM_PACKAGES", default="", show_envvar=True,
              help="Debian packages to add to the image (space or comma separated), besides those the "
                   "model's wheels need (libgomp1 for LightGBM/XGBoost/scikit-learn). PIP_INDEX_URL and "
                   "PIP_EXTRA_INDEX_URL in the job reach pip as build secrets (buildah).")
@options.drop_requirements
@options.package_indexes
@options.output_dir
def build_command(tracking_uri: str, model_name: str, model_version: str, run_id: str,
                  image_repository: str, commit: str | None, service_dir: Path, registry_user: str | None,
                  docker_config: Path | None, builder: str, source_url: str, base_image_pattern: str,
                  system_packages: str, drop_requirements: str, package_indexes: str, output_dir: str) -> None:
    """Build the serving image with the model baked in, push it, write image.env/image.json.

    Tags: <model>-v<version>-<short commit>, <model>-v<version>, <model>-latest and a source tag;
    when the source tag exists (same model version, same service source) it retags instead.
    """
    result, (json_path, env_path) = logic.build_and_report(
        ModelRef(model_name, model_version, run_id), Path(output_dir), repository=image_repository,
        commit=job.commit_sha(commit), tracking_uri=tracking_uri,
        credentials=Credentials.from_job(registry_user, docker_config), service_dir=service_dir,
        source_url=source_url, builder=builder, base_image_pattern=base_image_pattern,
        system_packages=system_packages, drop_requirements=drop_requirements, package_indexes=package_indexes)
    click.echo(f"{result.reference} ({'built' if result.rebuilt else 'retagged'} in {result.seconds:.1f}s); "
               f"wrote {env_path} and {json_path}")
