"""Options shared by several commands, defined once. Each falls back to the GitLab CI variable
a job would set, so `.gitlab-ci.yml` script lines stay one short command."""
from __future__ import annotations

import functools
from pathlib import Path

import click

from ci import load_measure as measure
from ci.project import OVERLAYS_DIR
from ci.tools import podman

tracking_uri = click.option(
    "--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True, show_envvar=True,
    help="MLflow tracking server URL. Credentials come from MLFLOW_TRACKING_TOKEN or "
         "MLFLOW_TRACKING_USERNAME/PASSWORD and are never printed.")
model_name = click.option(
    "--model-name", envvar="MODEL_NAME", required=True, show_envvar=True,
    help="Registered model name.")
output_dir = click.option(
    "--output-dir", envvar="CI_REPORTS_DIR", default="reports", show_default=True, show_envvar=True,
    type=click.Path(file_okay=False), help="Where JSON, dotenv and report files are written.")
selector = click.option(
    "--selector", envvar="MODEL_SELECTOR", show_envvar=True,
    help="Which version: @alias (@production, @champion), a legacy stage (Production, Staging) or a "
         "version number. Unset: @production, falling back to stage Production (with a warning) "
         "only when that alias does not exist; an explicit selector never falls back.")
registration_timeout = click.option(
    "--registration-timeout", envvar="MODEL_REGISTRATION_TIMEOUT", type=click.FloatRange(min=0),
    default=300, show_default=True, show_envvar=True,
    help="Seconds to wait for a version that is still PENDING_REGISTRATION.")
drop_requirements = click.option(
    "--drop-requirements", envvar="IMAGE_DROP_REQUIREMENTS", default="", show_envvar=True,
    help="The model's requirements to leave out of the image (space or comma separated), after the load gate "
         "reported them as not needed (a notebook environment's torch in a LightGBM model's requirements). "
         "Preflight and the build both leave them out; the build report lists them.")
package_indexes = click.option(
    "--package-indexes", envvar="IMAGE_PACKAGE_INDEXES", default="", show_envvar=True,
    help="Packages taken from an index of their own, e.g. 'torch torchvision torchaudio="
         "https://download.pytorch.org/whl/cpu' (entries separated by ';'): each becomes the exact file that "
         "index serves for the image (a plain torch==X pin gets X+cpu there); everything else comes from "
         "PIP_INDEX_URL. Preflight and the build resolve the same; the build report lists them.")
promote_target = click.option(
    "--to", "target", envvar="PROMOTE_TARGET", default="@production", show_default=True, show_envvar=True,
    help="What to move: an alias (@production) or a legacy stage (Production; the old holder is archived).")
container_cli = click.option(
    "--container-cli", envvar="CONTAINER_CLI", type=click.Choice(podman.CLIS), default=podman.DEFAULT_CLI,
    show_default=True, show_envvar=True,
    help="What runs the built image: podman (daemonless) or the docker CLI (a Docker engine, or podman's "
         "API through DOCKER_HOST).")

# Kubernetes: `deploy` rolls out to these, `loadtest` reaches the live Service through them.
deployment = click.option(
    "--deployment", envvar="KUBE_DEPLOYMENT", default="pyfunc-model", show_default=True, show_envvar=True,
    help="Deployment name; also the container and Service name unless set.")
service = click.option(
    "--service", envvar="KUBE_SERVICE", show_envvar=True,
    help="The Service in front of the Deployment (the deploy's smoke and the load test go through it) "
         "[default: the Deployment's name].")
service_port = click.option(
    "--service-port", envvar="KUBE_SERVICE_PORT", show_envvar=True, default="http", show_default=True,
    help="The Service's port, by name or number.")
kubeconfig = click.option(
    "--kubeconfig", envvar="KUBECONFIG", show_envvar=True,
    help="kubeconfig file(s) [default: ~/.kube/config, or the in-cluster account].")
kube_context = click.option(
    "--context", envvar="KUBE_CONTEXT", show_envvar=True,
    help="kubeconfig context (GitLab agent: path/to/agent-project:agent-name) [default: current].")


def namespace(required: bool, help_text: str):
    """--namespace/KUBE_NAMESPACE: required by `deploy`; the load test needs it only without a URL."""
    return click.option("--namespace", envvar="KUBE_NAMESPACE", required=required, show_envvar=True,
                        help=help_text)

def model_version(help_text: str, required: bool = True):
    """--model-version/MODEL_VERSION: the version a job works on (the resolve job's dotenv)."""
    return click.option("--model-version", envvar="MODEL_VERSION", required=required, show_envvar=True,
                        help=help_text)


def image(help_text: str, required: bool = True):
    """--image/IMAGE_REF: the built image, by digest (the build job's dotenv)."""
    return click.option("--image", envvar="IMAGE_REF", required=required, show_envvar=True, help=help_text)


capacity_manifests = click.option(
    "--capacity-manifests", envvar="CAPACITY_MANIFESTS", default=str(OVERLAYS_DIR / "production"),
    show_default=True, show_envvar=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Kustomize overlay whose pod is measured and planned for: its CPU/memory limits, CPU request and HPA.")

pod_manifests = click.option(
    "--manifests", "pod_manifests", envvar="CAPACITY_MANIFESTS", default=str(OVERLAYS_DIR / "production"),
    show_default=True, show_envvar=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Kustomize overlay of the pod the image must fit: its CPU and memory limits and startup probe.")

registry_user = click.option(
    "--registry-user", envvar="CI_REGISTRY_USER", show_envvar=True,
    help="Registry user; the password is read from CI_REGISTRY_PASSWORD only.")

# The candidate a gate measures, and which model version it is.
candidate_url = click.option(
    "--url", envvar="CANDIDATE_URL", show_envvar=True,
    help="Base URL of a running candidate service; takes precedence over --image.")
candidate_image = image("The built image (`ci build`'s dotenv), run locally (--container-cli) for the duration of "
                        "the gate.", required=False)


def _stack(fn, decorators):
    return functools.reduce(lambda f, decorate: decorate(f), reversed(decorators), fn)


def candidate_model(fn):
    """--tracking-uri, --model-uri, --model-name, --model-version: the candidate's contract, and where
    the gate's verdict is recorded."""
    return _stack(fn, [
        click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", show_envvar=True,
                     help="MLflow server: reads the candidate and records the verdict as a version tag."),
        click.option("--model-uri", envvar="CANDIDATE_MODEL_URI", show_envvar=True,
                     help="Candidate model directory or models:/NAME/VERSION "
                          "[default: MODEL_NAME + MODEL_VERSION]."),
        click.option("--model-name", envvar="MODEL_NAME", show_envvar=True, help="Registered model name."),
        model_version("Candidate version (the resolve job's dotenv).", required=False),
    ])


THRESHOLDS_HELP = f"""\b
Thresholds (a miss exits 1, printing each figure beside its threshold):
  p95 <= {measure.DEFAULT_P95_MS:g} ms, p99 <= {measure.DEFAULT_P99_MS:g} ms, error rate <= \
{measure.DEFAULT_MAX_ERROR_RATE:g}, throughput >= {measure.DEFAULT_MIN_RPS:g} req/s.
Warm-up: users are spawned over --warmup and the statistics reset when all run.
"""


def load_options(fn):
    """Thresholds and load shape, shared by `gate latency` and `loadtest`; `measure.load_settings`
    turns them into a `Load` and `Thresholds`."""
    return _stack(fn, [
        click.option("--p95-ms", envvar="LATENCY_P95_MS", type=float, default=measure.DEFAULT_P95_MS,
                     show_default=True, show_envvar=True, help="Highest acceptable p95 latency."),
        click.option("--p99-ms", envvar="LATENCY_P99_MS", type=float, default=measure.DEFAULT_P99_MS,
                     show_default=True, show_envvar=True, help="Highest acceptable p99 latency."),
        click.option("--max-error-rate", envvar="LATENCY_MAX_ERROR_RATE", type=click.FloatRange(0, 1),
                     default=measure.DEFAULT_MAX_ERROR_RATE, show_default=True, show_envvar=True,
                     help="Highest acceptable fraction of failed requests (non-2xx or no answer)."),
        click.option("--min-rps", envvar="LATENCY_MIN_RPS", type=float, default=measure.DEFAULT_MIN_RPS,
                     show_default=True, show_envvar=True, help="Lowest acceptable throughput (req/s)."),
        click.option("--users", envvar="LOADTEST_USERS", type=click.IntRange(min=1),
                     default=measure.DEFAULT_USERS, show_default=True, show_envvar=True,
                     help="Concurrent Locust users."),
        click.option("--duration", envvar="LOADTEST_DURATION", default=measure.DEFAULT_DURATION,
                     show_default=True, show_envvar=True, help="Measured time after warm-up (60s, 2m)."),
        click.option("--warmup", envvar="LOADTEST_WARMUP", default=measure.DEFAULT_WARMUP, show_default=True,
                     show_envvar=True, help="Ramp-up time, excluded from the figures."),
        click.option("--rate", envvar="LOADTEST_RATE", type=click.FloatRange(min=0),
                     default=measure.DEFAULT_RATE, show_default=True, show_envvar=True,
                     help="Requests per second in all, spread over the users; 0 = as fast as answered."),
        click.option("--batch-sizes", envvar="LOADTEST_BATCH_SIZES", default=measure.DEFAULT_BATCH_SIZES,
                     show_default=True, show_envvar=True, help="Rows per request, drawn at random."),
    ])
