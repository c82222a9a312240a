"""`python -m ci gate load|signature|latency`: each parses its options, calls its gate function (a
`GateResult`), hands the result to the one recorder and exits 1 when it did not pass."""
from __future__ import annotations

from pathlib import Path

import click

from ci import reports
from ci.capacity import pod_shape
from ci.clients.mlflow_api import MlflowApi
from ci.commands import options
from ci.commands.failure_alert import alert_on_failure
from ci.errors import CheckFailed, ConfigError
from ci.gates import capacity_search, latency, load, signature
from ci.gates.candidate import candidate
from ci.gates.record import record
from ci.gates.result import GateResult
from ci.image.credentials import Credentials
from ci.loadtest.measure import load_settings, parse_duration
from ci.registry import model_meta
from ci.registry.model_ref import ModelRef


def _finish(result: GateResult, output_dir: str, api: MlflowApi | None, model: ModelRef | None) -> None:
    """Print the checks, record, and exit 1 on a miss naming each failed check (a load failure's cause
    and fix are in its check's detail)."""
    click.echo(reports.text(result.checks))
    for line in record(result, Path(output_dir), api=api, model=model):
        click.echo(line)
    if not result.passed:
        failed = result.failed_checks
        raise CheckFailed(f"{result.gate} gate failed ({', '.join(c.name for c in failed)}):\n"
                          + "\n".join(check.detail for check in failed))
    click.echo(f"{result.gate} gate passed")


CAPACITY_HELP = """\b
Capacity (--capacity, LATENCY_CAPACITY=true; off by default: ~20 s a step, up to
--capacity-max-steps): after the verdict, one container with the pod's CPU/memory limits from
--capacity-manifests is loaded at rising fixed rates until p95, p99 or the error rate break the
thresholds or it serves under 90 % of the offered rate; the sustainable rate per pod and its CPU go
into latency.json's `capacity` section. It never changes the verdict.
"""


def _api(tracking_uri: str | None) -> MlflowApi | None:
    return MlflowApi(tracking_uri) if tracking_uri else None


def _model(name: str | None, version: str | None) -> ModelRef | None:
    return ModelRef(name, version) if name and version else None


def _gate_failure(gate_name: str):
    """Alert on a failed gate; a gate job has no environment: the candidate is not deployed yet."""
    return alert_on_failure(f"{gate_name} gate failed", environment="not deployed (gate)")


@click.group("gate")
def gate() -> None:
    """Gates on the built image; exit 1 when one does not pass."""


@gate.command("load")
@options.tracking_uri
@options.model_name
@options.model_version("The version the image must report and answer like.")
@options.image("The built image, by digest (`ci build`'s dotenv).")
@click.option("--ready-timeout", envvar="LOAD_GATE_READY_TIMEOUT", type=click.FloatRange(min=1),
              show_envvar=True, help="Seconds for /readyz to turn 200 [default: what the pod's startup probe "
              f"allows, else {load.DEFAULT_READY_TIMEOUT:g}].")
@options.pod_manifests
@options.registry_user
@options.container_cli
@options.output_dir
@_gate_failure("load")
def load_command(tracking_uri: str, model_name: str, model_version: str, image: str, ready_timeout: float | None,
                 pod_manifests: Path, registry_user: str | None, container_cli: str, output_dir: str) -> None:
    """Run the image (podman or docker, host network, read-only root, no tracking server) with the pod's
    CPU and memory limits: the model loads, /readyz turns 200 within the pod's startup probe, /version
    names the version, the input example's prediction equals the model's own answer, and the working set
    stays under 90 % of the memory limit. A load failure names its cause and the fix. Writes load.json
    and load-junit.xml; records the verdict on the model version (`promote` requires it)."""
    model = ModelRef(model_name, model_version)
    result = load.load_gate(image, model, ready_timeout=ready_timeout, pod=pod_shape.read(pod_manifests),
                            credentials=Credentials.from_job(registry_user), cli=container_cli)
    _finish(result, output_dir, MlflowApi(tracking_uri), model)


@gate.command("signature")
@options.candidate_model
@click.option("--live-url", envvar=["LIVE_URL", "PRODUCTION_URL"], show_envvar=True,
              help="The live service; its /version names the live model [unset or not answering: the alias].")
@click.option("--live-alias", envvar="PROMOTE_ALIAS", default="production", show_default=True,
              show_envvar=True,
              help="Registry alias of the live version, used when no live service answers.")
@click.option("--allow-breaking", envvar="SIGNATURE_ALLOW_BREAKING", is_flag=True, show_envvar=True,
              help="Let a breaking change through (after the clients are updated).")
@options.candidate_url
@options.candidate_image
@options.container_cli
@options.output_dir
@_gate_failure("signature")
def signature_command(tracking_uri, model_uri, model_name, model_version, live_url, live_alias,
                      allow_breaking, url, image, container_cli, output_dir) -> None:
    """Compare the candidate's signature with the live one: a removed or retyped input, a new required
    input or a changed output is breaking (exit 1); a new optional input is fine. The input example
    must validate. The candidate (--url, or --image run here) must answer batched as unbatched: an
    image that proved its model answers differently batched serves unbatched and says why, which the
    report records. Writes signature.json and signature-junit.xml; records the verdict."""
    api = _api(tracking_uri)
    meta = model_meta.load(model_uri, model_name, model_version, api)
    live = signature.find_live(api, model_name, live_url, live_alias)
    if url or image:
        with candidate(url, None if url else image, cli=container_cli) as (base, _):
            result = signature.signature_gate(meta, live, allow_breaking=allow_breaking, candidate_url=base)
    else:
        result = signature.signature_gate(meta, live, allow_breaking=allow_breaking)
    _finish(result, output_dir, api, _model(model_name, model_version))


@gate.command("latency", epilog=options.THRESHOLDS_HELP + CAPACITY_HELP)
@options.candidate_url
@options.candidate_image
@options.container_cli
@options.candidate_model
@options.load_options
@click.option("--capacity/--no-capacity", envvar="LATENCY_CAPACITY", default=False, show_default=True,
              show_envvar=True, help="Also find the capacity of one pod (a step load, minutes; needs --image).")
@click.option("--capacity-start-rps", envvar="LATENCY_CAPACITY_START_RPS", type=click.FloatRange(min=0.1),
              default=capacity_search.DEFAULT_START_RPS, show_default=True, show_envvar=True,
              help="The first step's offered rate (req/s).")
@click.option("--capacity-factor", envvar="LATENCY_CAPACITY_FACTOR", type=click.FloatRange(min=1.05),
              default=capacity_search.DEFAULT_FACTOR, show_default=True, show_envvar=True,
              help="Each step offers this many times the rate of the one before.")
@click.option("--capacity-max-steps", envvar="LATENCY_CAPACITY_MAX_STEPS", type=click.IntRange(min=1),
              default=capacity_search.DEFAULT_MAX_STEPS, show_default=True, show_envvar=True,
              help="At most this many steps (bisections included).")
@click.option("--capacity-step", envvar="LATENCY_CAPACITY_STEP", default=capacity_search.DEFAULT_STEP,
              show_default=True, show_envvar=True, help="Measured time of each step.")
@click.option("--capacity-step-warmup", envvar="LATENCY_CAPACITY_STEP_WARMUP",
              default=capacity_search.DEFAULT_STEP_WARMUP, show_default=True, show_envvar=True,
              help="Ramp-up of each step, excluded from its figures.")
@options.capacity_manifests
@options.output_dir
@_gate_failure("latency")
def latency_command(url, image, container_cli, tracking_uri, model_uri, model_name, model_version, output_dir,
                    capacity, capacity_start_rps, capacity_factor, capacity_max_steps, capacity_step,
                    capacity_step_warmup, capacity_manifests, **load_shape) -> None:
    """Load the candidate with Locust (requests from its input example) and check p95, p99, error rate
    and throughput. Writes latency-junit.xml, latency.html and latency.json; records the verdict on
    the model version; exit 1 on a miss. With --capacity, then step-loads one pod-sized container
    and adds the sustainable rate per pod to latency.json (`python -m ci capacity` plans from it)."""
    settings, thresholds = load_settings(**load_shape)
    if capacity and (url or not image):
        raise ConfigError("--capacity runs the built image with the pod's CPU and memory limits: give --image "
                          "(IMAGE_REF), not --url")
    steps = capacity_search.Steps(capacity_start_rps, capacity_factor, capacity_max_steps,
                                  duration_s=parse_duration(capacity_step),
                                  warmup_s=parse_duration(capacity_step_warmup))
    pod = pod_shape.read(capacity_manifests) if capacity else None
    api = _api(tracking_uri)
    meta = model_meta.load(model_uri, model_name, model_version, api)
    with candidate(url, None if url else image, cli=container_cli) as (base, log_tail):
        result = latency.latency_gate(base, meta, settings, thresholds, Path(output_dir),
                                      context={"image": image if not url else None})
        if not result.passed and (lines := log_tail()):  # the service never logs payloads
            click.echo(f"the candidate's last log lines:\n{lines}")
    if pod is not None:
        click.echo(f"capacity search: one container with --cpus {pod.cpu_limit} --memory {pod.memory_limit} "
                   f"(the pod in {capacity_manifests})")
        section = latency.capacity(image, meta, thresholds, steps, settings.batch_sizes, pod, cli=container_cli,
                                   progress=lambda point: click.echo(capacity_search.line(point)))
        click.echo(f"sustainable per pod: {section['sustainable_rps']:g} req/s at {section['cpu_cores']} CPU cores")
        result = latency.with_capacity(result, section)
    _finish(result, output_dir, api, _model(model_name, model_version))
