"""`python -m ci gate latency`: wiring only; the logic is `ci.gates.latency` and `ci.loadtest`."""
from __future__ import annotations

from pathlib import Path

import click

from ci import model_meta
from ci.commands import options
from ci.commands.gate import gate
from ci.commands.gating import api_or_none, finish
from ci.commands.loadtest import THRESHOLDS_HELP, load_options, load_settings
from ci.gates import latency
from ci.gates.candidate import candidate

candidate_url = click.option(
    "--url", envvar="CANDIDATE_URL", show_envvar=True,
    help="Base URL of a running candidate service; takes precedence over --image.")
candidate_image = click.option(
    "--image", envvar="IMAGE_REF", show_envvar=True,
    help="The built image (`ci build`'s dotenv), run locally (--container-cli) for the duration of the gate.")
model_source = [
    click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", show_envvar=True,
                 help="MLflow server: reads the candidate and records the verdict as a version tag."),
    click.option("--model-uri", envvar="CANDIDATE_MODEL_URI", show_envvar=True,
                 help="Candidate model directory or models:/NAME/VERSION "
                      "[default: MODEL_NAME + MODEL_VERSION]."),
    click.option("--model-name", envvar="MODEL_NAME", show_envvar=True, help="Registered model name."),
    click.option("--model-version", envvar="MODEL_VERSION", show_envvar=True,
                 help="Candidate version (the resolve job's dotenv)."),
]


def model_options(fn):
    for decorate in reversed(model_source):
        fn = decorate(fn)
    return fn


@gate.command("latency", epilog=THRESHOLDS_HELP)
@candidate_url
@candidate_image
@options.container_cli
@model_options
@load_options
@options.output_dir
def latency_command(url, image, container_cli, tracking_uri, model_uri, model_name, model_version, output_dir,
                    **load) -> None:
    """Load the candidate with Locust (requests from its input example) and check p95, p99, error rate
    and throughput. Writes latency-junit.xml, latency.html and latency.json; records the verdict on
    the model version; exit 1 on a miss."""
    settings, thresholds = load_settings(**load)
    api = api_or_none(tracking_uri)
    meta = model_meta.load(model_uri, model_name, model_version, api)
    with candidate(url, None if url else image, cli=container_cli) as base:
        result = latency.run_latency_gate(base, meta, settings, thresholds, Path(output_dir),
                                          context={"image": image if not url else None})
    click.echo(f"reports: {result.reports['junit']}, {result.reports['html']}, {result.reports['json']}")
    finish(latency.GATE, result.passed, result.checks, latency.summary(result), api=api,
           model_name=model_name, model_version=model_version)
