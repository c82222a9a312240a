"""`python -m ci gate <name>`: the checks between build and deploy. Wiring only; the logic is in
`ci.gates.*`. Each gate writes `gate-<name>.json` and exits 1 when it does not pass."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import click

from ci.build import Credentials, ModelRef, download_model, registry_authfile
from ci.cli import cli
from ci.commands import options
from ci.errors import CheckFailed
from ci.gates import load
from ci.mlflow_api import MlflowApi
from ci.outputs import write_json
from ci.registry import record_gate_result


@cli.group("gate")
def gate() -> None:
    """Gates on the built image; exit 1 when one does not pass."""


@gate.command("load")
@options.tracking_uri
@options.model_name
@click.option("--model-version", envvar="MODEL_VERSION", required=True, show_envvar=True,
              help="The version the image must report and answer like.")
@click.option("--image", envvar="IMAGE_REF", required=True, show_envvar=True,
              help="The built image, by digest (`ci build`'s dotenv).")
@click.option("--ready-timeout", envvar="LOAD_GATE_READY_TIMEOUT", type=float,
              default=load.DEFAULT_READY_TIMEOUT, show_default=True, show_envvar=True,
              help="Seconds for /readyz to turn 200.")
@click.option("--registry-user", envvar="CI_REGISTRY_USER", show_envvar=True,
              help="Registry user for the pull; the password is read from CI_REGISTRY_PASSWORD only.")
@options.container_cli
@options.output_dir
def load_command(tracking_uri: str, model_name: str, model_version: str, image: str, ready_timeout: float,
                 registry_user: str | None, container_cli: str, output_dir: str) -> None:
    """Run the image (podman or docker, host network, read-only root, no tracking server): the model loads,
    /readyz turns 200 in time, /version names the version, and the input example's prediction
    equals the model's own answer. A load failure names its cause and the fix. The verdict is
    recorded on the model version (`promote` requires it)."""
    model = ModelRef(model_name, model_version)
    api = MlflowApi(tracking_uri)
    credentials = Credentials(user=registry_user, password=os.environ.get("CI_REGISTRY_PASSWORD"))
    with tempfile.TemporaryDirectory(prefix="gate-load-") as tmp, \
            registry_authfile(image.split("@")[0], credentials) as authfile:
        model_dir = download_model(model, tracking_uri, Path(tmp) / "model")
        try:
            result = load.run_load_gate(image, model_dir=model_dir, expected_version=model_version,
                                        port=load.free_port(), ready_timeout=ready_timeout, authfile=authfile,
                                        cli=container_cli)
        except CheckFailed as exc:
            record_gate_result(model_name, model_version, "load", False,
                               {"image": image, "error": str(exc).splitlines()[0][:300]}, api=api)
            raise
    record_gate_result(model_name, model_version, "load", True, dataclasses.asdict(result), api=api)
    report = write_json(Path(output_dir) / "gate-load.json", dataclasses.asdict(result))
    click.echo(f"load gate passed: ready in {result.ready_seconds:.1f}s, model version "
               f"{result.model_version}, {result.rows} rows equal; wrote {report}")
