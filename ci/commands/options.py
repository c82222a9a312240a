"""Options shared by several commands, defined once. Each falls back to the GitLab CI variable
a job would set, so `.gitlab-ci.yml` script lines stay one short command."""
from __future__ import annotations

import functools
from pathlib import Path

import click

from ci.loadtest import measure
from ci.progressive import strategies
from ci.progressive.canary_analysis import Thresholds
from ci.progressive.shadow_analysis import ShadowThresholds
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


CANARY_DEFAULTS = Thresholds()
SHADOW_DEFAULTS = ShadowThresholds()


def _setting(flag: str, env: str, default, kind, text: str):
    return click.option(flag, envvar=env, default=default, type=kind, show_default=True, show_envvar=True, help=text)


def canary_options(fn):
    """--strategy and the canary's settings, each with its GitLab variable."""
    positive = click.FloatRange(min=0)
    return _stack(fn, [
        click.option("--strategy", envvar="DEPLOY_STRATEGY", type=click.Choice(strategies.NAMES), default="rolling",
                    show_default=True, show_envvar=True,
                    help="rolling: replace the pods, watched, undone on failure. canary: a <deployment>-canary "
                         "Deployment behind the same Service, judged against stable step by step, then rolled "
                         "out (see docs/deploy.md#canary-deploys). shadow: a <deployment>-shadow Deployment that "
                         "takes no user traffic; the stable pods copy requests to it and compare its answers row by "
                         "row; rolled out when they pass (docs/deploy.md#shadow-deploys). shadow-canary: that shadow "
                         "step, then (if it passes) the canary, one report (canary.json)."),
        _setting("--canary-steps", "CANARY_STEPS", "10,50,100", str,
                 "Canary pods per step, in percent of stable's replica count (at least one pod)."),
        _setting("--canary-interval", "CANARY_INTERVAL", 60.0, positive,
                 "Seconds of traffic per step before its analysis."),
        _setting("--canary-min-requests", "CANARY_MIN_REQUESTS", CANARY_DEFAULTS.min_requests, click.IntRange(min=1),
                 "Requests each side needs per step; the analysis sends its own up to this (else: inconclusive)."),
        _setting("--canary-max-own-requests", "CANARY_MAX_OWN_REQUESTS", 1000, click.IntRange(min=0),
                 "Most requests the analysis sends to each side per step."),
        _setting("--canary-input", "CANARY_INPUT", None, click.Path(exists=True, dir_okay=False, path_type=Path),
                 "JSON lines, one /invocations body each, for the analysis' own requests [default: the smoke's body]."),
        _setting("--canary-max-error-rate", "CANARY_MAX_ERROR_RATE", CANARY_DEFAULTS.max_error_rate, positive,
                 "Absolute limit of the canary's 5xx share."),
        _setting("--canary-max-error-increase", "CANARY_MAX_ERROR_INCREASE", CANARY_DEFAULTS.max_error_increase,
                 positive, "Most the canary's 5xx share may exceed stable's (beyond sampling noise)."),
        _setting("--canary-max-p95-ms", "CANARY_MAX_P95_MS", CANARY_DEFAULTS.max_p95_seconds * 1000, positive,
                 "Absolute limit of the canary's p95 latency."),
        _setting("--canary-max-p99-ms", "CANARY_MAX_P99_MS", CANARY_DEFAULTS.max_p99_seconds * 1000, positive,
                 "Absolute limit of the canary's p99 latency."),
        _setting("--canary-max-latency-ratio", "CANARY_MAX_LATENCY_RATIO", CANARY_DEFAULTS.max_latency_ratio, positive,
                 "Canary p95/p99 against stable's: at most this factor ..."),
        _setting("--canary-latency-slack-ms", "CANARY_LATENCY_SLACK_MS", CANARY_DEFAULTS.latency_slack_seconds * 1000,
                 positive, "... or stable's plus this, whichever is larger."),
        _setting("--canary-max-psi", "CANARY_MAX_PSI", CANARY_DEFAULTS.max_psi, positive,
                 "Prediction drift per numeric output (Population Stability Index) beyond sampling noise."),
        _setting("--prometheus-url", "PROMETHEUS_URL", None, str,
                 "Read the canary's and the shadow's figures from this Prometheus (it must scrape the pods) instead "
                 "of each pod's "
                 "/metrics through the API server [default: the pods]."),
        _setting("--prometheus-token", "PROMETHEUS_TOKEN", None, str,
                 "Bearer token for PROMETHEUS_URL (never printed); a user and password may be in the URL instead."),
        _setting("--prometheus-pod-label", "PROMETHEUS_POD_LABEL", "pod", str,
                 "The target label that names a series' pod in that Prometheus."),
        _setting("--prometheus-namespace-label", "PROMETHEUS_NAMESPACE_LABEL", "namespace", str,
                 "The target label that names a series' namespace in that Prometheus."),
        _setting("--prometheus-wait", "PROMETHEUS_WAIT", 60.0, positive,
                 "Seconds for Prometheus to scrape every pod after each read begins (at least its scrape interval)."),
    ])


def shadow_options(fn):
    """The shadow step's settings, each with its GitLab variable."""
    positive, share = click.FloatRange(min=0), click.FloatRange(min=0, max=1)
    return _stack(fn, [
        _setting("--shadow-duration", "SHADOW_DURATION", 60.0, positive,
                 "Seconds the stable pods copy requests to the shadow, at least."),
        _setting("--shadow-max-wait", "SHADOW_MAX_WAIT", 300.0, positive,
                 "Most seconds to reach SHADOW_MIN_ROWS compared rows; past it the step is inconclusive."),
        _setting("--shadow-sample-rate", "SHADOW_SAMPLE_RATE", 1.0, share,
                 "Share of the stable pods' requests copied to the shadow."),
        _setting("--shadow-min-rows", "SHADOW_MIN_ROWS", SHADOW_DEFAULTS.min_rows, click.IntRange(min=1),
                 "Rows compared before a verdict; the step sends the stable pods its own requests up to this."),
        _setting("--shadow-max-own-requests", "SHADOW_MAX_OWN_REQUESTS", 2000, click.IntRange(min=0),
                 "Most requests the step sends the stable pods itself."),
        _setting("--shadow-input", "SHADOW_INPUT", None, click.Path(exists=True, dir_okay=False, path_type=Path),
                 "JSON lines, one /invocations body each, for the step's own requests [default: the smoke's body]."),
        _setting("--shadow-max-changed-share", "SHADOW_MAX_CHANGED_SHARE", SHADOW_DEFAULTS.max_changed_share, share,
                 "Share of rows whose class (a label, an integer, a string output) may change."),
        _setting("--shadow-max-relative-difference", "SHADOW_MAX_RELATIVE_DIFFERENCE",
                 SHADOW_DEFAULTS.max_relative_difference, positive,
                 "p99 of a numeric output's relative difference, candidate against stable."),
        _setting("--shadow-max-failed-share", "SHADOW_MAX_FAILED_SHARE", SHADOW_DEFAULTS.max_failed_share, share,
                 "Share of copies the shadow may refuse, fail or answer with other rows."),
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
