"""`python -m ci loadtest`: options for `ci.loadtest.live.run_loadtest`, the scheduled load test of the live
environment."""
from __future__ import annotations

from pathlib import Path

import click

from ci import reports
from ci.clients.mlflow_api import MlflowApi
from ci.commands import options
from ci.errors import CheckFailed, ConfigError
from ci.loadtest.live import LiveService, run_loadtest
from ci.loadtest.measure import load_settings


@click.command("loadtest", epilog=options.THRESHOLDS_HELP)
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
@options.load_options
@click.option("--alert-webhook", envvar="ALERT_WEBHOOK_URL", show_envvar=True,
              help="A generic JSON webhook (WeCom/Slack style) alerted on a miss, besides the channels in "
                   "ALERT_URLS; never printed.")
@click.option("--environment", envvar="CI_ENVIRONMENT_NAME", default="production", show_default=True,
              show_envvar=True, help="Environment name, for the alert and the issue title.")
@options.output_dir
def loadtest_command(url, namespace, deployment, service, service_port, kubeconfig, context, tracking_uri,
                     model_uri, alert_webhook, environment, output_dir, **load_shape) -> None:
    """Load-test the live environment with the latency gate's load and thresholds: at --url, or at the
    Service in --namespace through the API server's proxy (`kubectl proxy`; no Ingress needed). On a
    miss: alert (ALERT_URLS and the webhook), open or update a GitLab issue (CI_SERVER_URL + GITLAB_API_TOKEN +
    CI_PROJECT_ID), exit 1. Writes loadtest-junit.xml, loadtest.html and loadtest.json."""
    settings, thresholds = load_settings(**load_shape)
    if not url and not namespace:
        raise ConfigError("no live service to load-test: set LOADTEST_URL (--url), or KUBE_NAMESPACE "
                          "(--namespace) to reach the Service through the API server's proxy")
    live = LiveService(url=url, namespace=namespace, service=service or deployment, port=service_port,
                       kubeconfig=kubeconfig, context=context)
    outcome = run_loadtest(live, settings, thresholds, Path(output_dir),
                           api=MlflowApi(tracking_uri) if tracking_uri else None, model_uri=model_uri,
                           alert_webhook=alert_webhook, environment=environment)
    if outcome.result is not None:
        click.echo(reports.text(outcome.result.checks))
    for line in outcome.actions:
        click.echo(line)
    if outcome.error is not None:
        raise outcome.error
    if not outcome.result.passed:
        failed = ", ".join(check.name for check in outcome.result.checks if not check.passed)
        raise CheckFailed(f"load test missed a threshold ({failed})")
    click.echo(f"load test passed; reports in {output_dir}")
