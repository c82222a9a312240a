"""`python -m ci loadtest`: the scheduled load test against the live environment. Wiring only; the
logic is `ci.loadtest`. The Locust options are defined here once and shared with `gate latency`."""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import click
import requests

from ci import loadtest as logic
from ci import model_meta
from ci.cli import cli
from ci.commands import options
from ci.commands.gating import api_or_none
from ci.errors import CheckFailed, ConfigError, ToolError
from ci.gitlab_api import GitLabApi
from ci.mlflow_api import redact
from ci.reports import text
from ci.tools import kubectl

THRESHOLDS_HELP = f"""\b
Thresholds (a miss exits 1, printing each figure beside its threshold):
  p95 <= {logic.DEFAULT_P95_MS:g} ms, p99 <= {logic.DEFAULT_P99_MS:g} ms, error rate <= \
{logic.DEFAULT_MAX_ERROR_RATE:g}, throughput >= {logic.DEFAULT_MIN_RPS:g} req/s.
Warm-up: users are spawned over --warmup and the statistics reset when all run.
"""


def load_options(fn):
    """Thresholds and load shape, shared by `gate latency` and `loadtest`."""
    decorators = [
        click.option("--p95-ms", envvar="LATENCY_P95_MS", type=float, default=logic.DEFAULT_P95_MS,
                     show_default=True, show_envvar=True, help="Highest acceptable p95 latency."),
        click.option("--p99-ms", envvar="LATENCY_P99_MS", type=float, default=logic.DEFAULT_P99_MS,
                     show_default=True, show_envvar=True, help="Highest acceptable p99 latency."),
        click.option("--max-error-rate", envvar="LATENCY_MAX_ERROR_RATE", type=click.FloatRange(0, 1),
                     default=logic.DEFAULT_MAX_ERROR_RATE, show_default=True, show_envvar=True,
                     help="Highest acceptable fraction of failed requests (non-2xx or no answer)."),
        click.option("--min-rps", envvar="LATENCY_MIN_RPS", type=float, default=logic.DEFAULT_MIN_RPS,
                     show_default=True, show_envvar=True, help="Lowest acceptable throughput (req/s)."),
        click.option("--users", envvar="LOADTEST_USERS", type=click.IntRange(min=1),
                     default=logic.DEFAULT_USERS, show_default=True, show_envvar=True,
                     help="Concurrent Locust users."),
        click.option("--duration", envvar="LOADTEST_DURATION", default=logic.DEFAULT_DURATION,
                     show_default=True, show_envvar=True, help="Measured time after warm-up (60s, 2m)."),
        click.option("--warmup", envvar="LOADTEST_WARMUP", default=logic.DEFAULT_WARMUP, show_default=True,
                     show_envvar=True, help="Ramp-up time, excluded from the figures."),
        click.option("--rate", envvar="LOADTEST_RATE", type=click.FloatRange(min=0),
                     default=logic.DEFAULT_RATE, show_default=True, show_envvar=True,
                     help="Requests per second in all, spread over the users; 0 = as fast as answered."),
        click.option("--batch-sizes", envvar="LOADTEST_BATCH_SIZES", default=logic.DEFAULT_BATCH_SIZES,
                     show_default=True, show_envvar=True, help="Rows per request, drawn at random."),
    ]
    return functools.reduce(lambda f, decorate: decorate(f), reversed(decorators), fn)


def load_settings(p95_ms, p99_ms, max_error_rate, min_rps, users, duration, warmup, rate,
                  batch_sizes) -> tuple[logic.Load, logic.Thresholds]:
    if not all(size.strip().isdigit() and int(size) > 0 for size in batch_sizes.split(",")):
        raise ConfigError(f"--batch-sizes {batch_sizes!r}: comma-separated positive numbers, e.g. 1,4,16")
    load = logic.Load(users, logic.parse_duration(duration), logic.parse_duration(warmup), rate, batch_sizes)
    return load, logic.Thresholds(p95_ms, p99_ms, max_error_rate, min_rps)


def live_model(url: str, api, model_uri: str | None) -> model_meta.ModelMeta:
    """The live service's model, from --model-uri or from what its /version reports."""
    if model_uri:
        return model_meta.load(model_uri, None, None, api)
    try:
        info = requests.get(f"{url.rstrip('/')}/version", timeout=30).json()
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailed(f"the live service at {redact(url)} does not answer /version "
                          f"({type(exc).__name__})") from None
    return model_meta.load(None, info.get("model_name"), str(info.get("model_version") or ""), api)


@cli.command("loadtest", epilog=THRESHOLDS_HELP)
@click.option("--url", envvar="LOADTEST_URL", show_envvar=True,
              help="Base URL of the live service (a route, an Ingress) [default: the Service through the API "
                   "server's proxy, with kubectl].")
@options.namespace(required=False, help_text="Namespace of the live Service, reached when there is no --url.")
@options.deployment
@options.service
@options.service_port
@options.kubeconfig
@options.kube_context
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", show_envvar=True,
              help="MLflow server, to read the live version's input example.")
@click.option("--model-uri", envvar="LOADTEST_MODEL_URI", show_envvar=True,
              help="Model directory or models:/NAME/VERSION for the request bodies [default: the "
                   "version the live /version reports].")
@load_options
@click.option("--alert-webhook", envvar="ALERT_WEBHOOK_URL", show_envvar=True,
              help="Incoming webhook (WeCom/Slack style) alerted on a miss; never printed.")
@click.option("--environment", envvar="CI_ENVIRONMENT_NAME", default="production", show_default=True,
              show_envvar=True, help="Environment name, for the alert and the issue title.")
@options.output_dir
def loadtest_command(url, namespace, deployment, service, service_port, kubeconfig, context, tracking_uri,
                     model_uri, alert_webhook, environment, output_dir, **load) -> None:
    """Load-test the live environment with the latency gate's load and thresholds: at --url, or at the
    Service in --namespace through the API server's proxy (`kubectl proxy`; no Ingress needed). On a
    miss: alert the webhook, open or update a GitLab issue (CI_SERVER_URL + GITLAB_API_TOKEN +
    CI_PROJECT_ID), exit 1. Writes loadtest-junit.xml, loadtest.html and loadtest.json."""
    settings, thresholds = load_settings(**load)
    if not url and not namespace:
        raise ConfigError("no live service to load-test: set LOADTEST_URL (--url), or KUBE_NAMESPACE "
                          "(--namespace) to reach the Service through the API server's proxy")
    live = contextlib.nullcontext(url) if url else kubectl.service_proxy(
        namespace, service or deployment, service_port, kubeconfig=kubeconfig, context=context)
    target = redact(url) if url else f"Service {service or deployment} in namespace {namespace}"
    try:
        with live as base_url:  # a proxy lives as long as the run; the reports and the issue need no cluster
            meta = live_model(base_url, api_or_none(tracking_uri), model_uri)
            result = logic.measure(base_url, meta.serving_example, settings, thresholds, Path(output_dir),
                                   "loadtest", context={"model": meta.source, "environment": environment})
    except (CheckFailed, ToolError) as unreachable:  # a Service gone or not answering: what the schedule is for
        _report([f"the load test could not run: {unreachable}"], environment, target, alert_webhook,
                os.environ.get("CI_JOB_URL"))
        raise
    click.echo(text(result.checks))
    click.echo(f"reports: {result.reports['junit']}, {result.reports['html']}, {result.reports['json']}")
    if result.passed:
        click.echo("load test passed")
        return
    _report([check.detail for check in result.checks if not check.passed], f"{environment} ({meta.source})",
            result.url, alert_webhook, os.environ.get("CI_JOB_URL"))
    raise CheckFailed("load test missed a threshold (" +
                      ", ".join(check.name for check in result.checks if not check.passed) + ")")


def _report(problems: list[str], subject: str, target: str, alert_webhook: str | None,
            details_url: str | None) -> None:
    gitlab = GitLabApi.connect(os.environ.get("CI_SERVER_URL"), os.environ.get("GITLAB_API_TOKEN"),
                               os.environ.get("CI_PROJECT_ID"))
    for line in logic.report_miss(problems, subject, target, alert_webhook, gitlab, details_url):
        click.echo(line)
