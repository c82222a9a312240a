"""`python -m ci build`: wiring only; the logic is `ci.build`."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from ci import build as logic
from ci.cli import cli
from ci.commands import options
from ci.errors import ConfigError


def _commit() -> str:
    """The checkout's commit when CI_COMMIT_SHA is not set (a local run)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=logic.REPO_ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ConfigError("no commit: set CI_COMMIT_SHA or pass --commit") from exc


@cli.command("build")
@options.tracking_uri
@options.model_name
@click.option("--model-version", envvar="MODEL_VERSION", required=True, show_envvar=True,
              help="The resolved version (from `ci resolve`'s dotenv).")
@click.option("--run-id", envvar="MODEL_RUN_ID", default="", show_envvar=True,
              help="The version's run id; part of the key that decides rebuild or retag.")
@click.option("--image-repository", envvar=["IMAGE_REPOSITORY", "CI_REGISTRY_IMAGE"], required=True,
              show_envvar=True, help="REGISTRY/PATH the image is pushed to (no tag).")
@click.option("--commit", envvar="CI_COMMIT_SHA", show_envvar=True, help="Source commit [default: HEAD].")
@click.option("--service-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=logic.SERVICE_DIR, show_default=True, help="Service source with its Dockerfile.")
@click.option("--registry-user", envvar="CI_REGISTRY_USER", show_envvar=True,
              help="Registry user; the password is read from CI_REGISTRY_PASSWORD only.")
@click.option("--docker-config", envvar="DOCKER_CONFIG", show_envvar=True,
              type=click.Path(exists=True, path_type=Path),
              help="Docker config dir or file with registry auths (instead of user/password).")
@click.option("--builder", envvar="IMAGE_BUILDER", type=click.Choice(list(logic.BUILDERS)),
              default=logic.DEFAULT_BUILDER, show_default=True, show_envvar=True,
              help="buildah (daemonless), docker (a Docker engine, or podman's API via DOCKER_HOST) or kaniko "
                   "(inside its executor image; KANIKO_EXECUTOR names the binary).")
@click.option("--source-url", envvar="CI_PROJECT_URL", default="", show_envvar=True,
              help="Project URL for the image's org.opencontainers.image.source label.")
@options.output_dir
def build_command(tracking_uri: str, model_name: str, model_version: str, run_id: str,
                  image_repository: str, commit: str | None, service_dir: Path, registry_user: str | None,
                  docker_config: Path | None, builder: str, source_url: str, output_dir: str) -> None:
    """Build the serving image with the model baked in, push it, write image.env/image.json.

    Tags: <model>-v<version>-<short commit>, <model>-v<version>, <model>-latest and a source tag;
    when the source tag exists (same model version, same service source) it retags instead.
    """
    credentials = logic.Credentials(user=registry_user, password=os.environ.get("CI_REGISTRY_PASSWORD"),
                                    docker_config=None if registry_user else docker_config)
    result = logic.build(logic.ModelRef(model_name, model_version, run_id), repository=image_repository,
                         commit=commit or _commit(), tracking_uri=tracking_uri, credentials=credentials,
                         service_dir=service_dir, source_url=source_url, builder=builder)
    json_path, env_path = logic.write_outputs(result, Path(output_dir))
    click.echo(f"{result.reference} ({'built' if result.rebuilt else 'retagged'} in {result.seconds:.1f}s); "
               f"wrote {env_path} and {json_path}")
