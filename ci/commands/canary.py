"""The canary's options on `python -m ci deploy --strategy canary`, the run itself, and
`python -m ci canary promote|abort` (the pipeline's manual jobs while a canary runs)."""
from __future__ import annotations

from pathlib import Path

import click

from ci import canary as logic
from ci import canary_report, job, kube, pod_metrics
from ci.canary_analysis import Thresholds
from ci.canary_objects import parse_steps
from ci.commands import options
from ci.deploy import Limits, Target
from ci.errors import CheckFailed
from ci.prometheus_metrics import PrometheusMetrics
from ci.smoke import Smoke, request_bodies

STRATEGIES = ("rolling", "canary", "shadow")
DEFAULTS = Thresholds()


def canary_options(fn):
    """--strategy and the canary's settings, each with its GitLab variable."""
    def option(flag: str, env: str, default, kind, text: str):
        return click.option(flag, envvar=env, default=default, type=kind, show_default=True, show_envvar=True,
                            help=text)

    positive = click.FloatRange(min=0)
    return options._stack(fn, [
        click.option("--strategy", envvar="DEPLOY_STRATEGY", type=click.Choice(STRATEGIES), default="rolling",
                     show_default=True, show_envvar=True,
                     help="rolling: replace the pods, watched, undone on failure. canary: a <deployment>-canary "
                          "Deployment behind the same Service, judged against stable step by step, then rolled "
                          "out (see README, Canary deploys). shadow: a <deployment>-shadow Deployment that takes no "
                          "user traffic; the stable pods copy requests to it and compare its answers row by row; "
                          "rolled out when they pass (README, Shadow deploys)."),
        option("--canary-steps", "CANARY_STEPS", "10,50,100", str,
               "Canary pods per step, in percent of stable's replica count (at least one pod)."),
        option("--canary-interval", "CANARY_INTERVAL", 60.0, positive,
               "Seconds of traffic per step before its analysis."),
        option("--canary-min-requests", "CANARY_MIN_REQUESTS", DEFAULTS.min_requests, click.IntRange(min=1),
               "Requests each side needs per step; the analysis sends its own up to this (else: inconclusive)."),
        option("--canary-max-own-requests", "CANARY_MAX_OWN_REQUESTS", 1000, click.IntRange(min=0),
               "Most requests the analysis sends to each side per step."),
        option("--canary-input", "CANARY_INPUT", None, click.Path(exists=True, dir_okay=False, path_type=Path),
               "JSON lines, one /invocations body each, for the analysis' own requests [default: the smoke's body]."),
        option("--canary-max-error-rate", "CANARY_MAX_ERROR_RATE", DEFAULTS.max_error_rate, positive,
               "Absolute limit of the canary's 5xx share."),
        option("--canary-max-error-increase", "CANARY_MAX_ERROR_INCREASE", DEFAULTS.max_error_increase, positive,
               "Most the canary's 5xx share may exceed stable's (beyond sampling noise)."),
        option("--canary-max-p95-ms", "CANARY_MAX_P95_MS", DEFAULTS.max_p95_seconds * 1000, positive,
               "Absolute limit of the canary's p95 latency."),
        option("--canary-max-p99-ms", "CANARY_MAX_P99_MS", DEFAULTS.max_p99_seconds * 1000, positive,
               "Absolute limit of the canary's p99 latency."),
        option("--canary-max-latency-ratio", "CANARY_MAX_LATENCY_RATIO", DEFAULTS.max_latency_ratio, positive,
               "Canary p95/p99 against stable's: at most this factor ..."),
        option("--canary-latency-slack-ms", "CANARY_LATENCY_SLACK_MS", DEFAULTS.latency_slack_seconds * 1000,
               positive, "... or stable's plus this, whichever is larger."),
        option("--canary-max-psi", "CANARY_MAX_PSI", DEFAULTS.max_psi, positive,
               "Prediction drift per numeric output (Population Stability Index) beyond sampling noise."),
        option("--prometheus-url", "PROMETHEUS_URL", None, str,
               "Read the canary's figures from this Prometheus (it must scrape the pods) instead of each pod's "
               "/metrics through the API server [default: the pods]."),
        option("--prometheus-token", "PROMETHEUS_TOKEN", None, str,
               "Bearer token for PROMETHEUS_URL (never printed); a user and password may be in the URL instead."),
        option("--prometheus-pod-label", "PROMETHEUS_POD_LABEL", "pod", str,
               "The target label that names a series' pod in that Prometheus."),
        option("--prometheus-namespace-label", "PROMETHEUS_NAMESPACE_LABEL", "namespace", str,
               "The target label that names a series' namespace in that Prometheus."),
        option("--prometheus-wait", "PROMETHEUS_WAIT", 60.0, positive,
               "Seconds for Prometheus to scrape every pod after each read begins (at least its scrape interval)."),
    ])


def plan(settings: dict, body: bytes | None, service: str) -> logic.Plan:
    """The Plan from the options (`settings`: the command's keyword arguments)."""
    bodies = request_bodies(settings["canary_input"], "CANARY_INPUT") if settings["canary_input"] else (
        (body,) if body else ())
    return logic.Plan(
        steps=parse_steps(settings["canary_steps"]), interval=settings["canary_interval"], bodies=bodies,
        service=service, metrics=metrics_source(settings),
        max_own_requests=settings["canary_max_own_requests"],
        thresholds=Thresholds(
            min_requests=settings["canary_min_requests"], max_error_rate=settings["canary_max_error_rate"],
            max_error_increase=settings["canary_max_error_increase"],
            max_p95_seconds=settings["canary_max_p95_ms"] / 1000, max_p99_seconds=settings["canary_max_p99_ms"] / 1000,
            max_latency_ratio=settings["canary_max_latency_ratio"],
            latency_slack_seconds=settings["canary_latency_slack_ms"] / 1000, max_psi=settings["canary_max_psi"]))


def metrics_source(settings: dict):
    """Where the analysis reads its figures: each pod's /metrics, or a Prometheus that scrapes them."""
    if not settings["prometheus_url"]:
        return pod_metrics.scrape
    return PrometheusMetrics(settings["prometheus_url"], token=settings["prometheus_token"],
                             pod_label=settings["prometheus_pod_label"],
                             namespace_label=settings["prometheus_namespace_label"], wait=settings["prometheus_wait"])


def run(client: kube.Kube, target: Target, limits: Limits, canary_plan: logic.Plan, check: Smoke | None,
        output_dir: Path) -> None:
    """Run the canary, write its reports, record the deployment; exit 1 (CheckFailed) unless promoted."""
    result = logic.run(client, target, limits, canary_plan, check)
    source = canary_plan.metrics
    paths = canary_report.write(output_dir, result, image=target.image, namespace=target.namespace,
                                deployment=target.deployment,
                                figures_from=source.describe() if isinstance(source, PrometheusMetrics)
                                else "each pod's /metrics through the API server")
    job.record_deployment(target.namespace, result.ok)
    if not result.ok:
        raise CheckFailed(f"{result.message}\nreport: {paths[0]}")
    click.echo(f"{target.namespace}/{target.deployment}: {result.message}; wrote {paths[0]}")


@click.group("canary")
def canary_group() -> None:
    """Decide a running canary by hand (`ci deploy --strategy canary` acts on it within seconds)."""


def _decision(choice: str, text: str):
    @canary_group.command(choice, help=text)
    @options.namespace(required=True, help_text="Namespace of the running canary.")
    @options.deployment
    @options.kubeconfig
    @options.kube_context
    def command(namespace: str, deployment: str, kubeconfig: str | None, context: str | None) -> None:
        client = kube.connect(namespace, kubeconfig=kubeconfig, context=context)
        click.echo(logic.decide(client, deployment, choice))
    return command


promote_now = _decision("promote", "Promote now: skip the remaining steps and roll the canary's image out.")
abort = _decision("abort", "Abort: delete the canary; the stable Deployment stays as it is (exit 1 in the canary job).")
