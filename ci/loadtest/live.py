"""The scheduled load test of the live environment: reach the Service, measure it as the latency gate
measures a candidate, and on a miss — or when it cannot be reached at all, which is what the schedule
is for — alert the chat webhook and open or update a GitLab issue."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ci import alerts, job, reports
from ci.clients.gitlab_api import GitLabApi
from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed, CiError, ToolError
from ci.loadtest.measure import Load, LoadResult, Thresholds, measure, report_details
from ci.redact import redact
from ci.registry import model_meta
from ci.tools import kubectl

NAME = "loadtest"
ISSUE_LABELS = ["loadtest", "performance"]


@dataclass(frozen=True)
class LiveService:
    """Where the live service is: a URL, or a Service reached through the API server's proxy."""

    url: str | None = None
    namespace: str | None = None
    service: str = ""
    port: str = "http"
    kubeconfig: str | None = None
    context: str | None = None

    def describe(self) -> str:
        return redact(self.url) if self.url else f"Service {self.service} in namespace {self.namespace}"

    def reach(self):
        """A context manager yielding a base URL (a `kubectl proxy` lives as long as it)."""
        if self.url:
            return contextlib.nullcontext(self.url)
        return kubectl.service_proxy(self.namespace, self.service, self.port, kubeconfig=self.kubeconfig,
                                     context=self.context)


@dataclass
class Outcome:
    result: LoadResult | None  # None when the load test could not run
    actions: list[str] = field(default_factory=list)  # alert and issue, one line each
    error: CiError | None = None  # why it could not run


def live_model(url: str, api: MlflowApi | None, model_uri: str | None) -> tuple[model_meta.ModelMeta, str, str]:
    """The live service's model, its name and version: from `model_uri` or from what its /version reports."""
    if model_uri:
        name, _, version = model_uri.removeprefix("models:/").partition("/")
        named = model_uri.startswith("models:/")
        return model_meta.load(model_uri, None, None, api), name if named else model_uri, version if named else "?"
    try:
        info = requests.get(f"{url.rstrip('/')}/version", timeout=30).json()
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailed(f"the live service at {redact(url)} does not answer /version "
                          f"({type(exc).__name__})") from None
    name, version = info.get("model_name") or "", str(info.get("model_version") or "")
    return model_meta.load(None, name, version, api), name, version


def run_loadtest(live: LiveService, load: Load, thresholds: Thresholds, output_dir: Path, *,
                 api: MlflowApi | None, model_uri: str | None, alert_webhook: str | None,
                 environment: str) -> Outcome:
    """Measure the live service, write loadtest.json/-junit.xml/.html, report a miss or an outage."""
    try:
        with live.reach() as base_url:  # the reports and the issue need no cluster
            meta, name, version = live_model(base_url, api, model_uri)
            result = measure(base_url, meta.serving_example, load, thresholds, output_dir, NAME)
    except (CheckFailed, ToolError) as unreachable:
        alert = alerts.Alert.from_job("scheduled load test could not run", model_uri or "?", "?",
                                      environment, [f"the load test could not run: {unreachable}"])
        return Outcome(None, report_miss(alert, live.describe(), alert_webhook, job.gitlab()), unreachable)
    reports.write(output_dir, NAME, result.passed, result.checks, result.seconds,
                  **report_details(result, load, thresholds, output_dir, NAME),
                  model=meta.source, environment=environment)
    if result.passed:
        return Outcome(result)
    alert = alerts.Alert.from_job("scheduled load test missed its thresholds", name, version, environment,
                                  [check.detail for check in result.checks if not check.passed])
    return Outcome(result, report_miss(alert, result.url, alert_webhook, job.gitlab()))


def report_miss(alert: alerts.Alert, target: str, webhook_url: str | None, gitlab: GitLabApi | None) -> list[str]:
    """Alert every channel and open or update the GitLab issue. Returns what was done, one line each; a
    step that is not configured, or an alert that is not delivered, says so instead of failing the job."""
    known = f" ({alert.model} version {alert.version})" if alert.version != "?" else ""
    title = f"Load test failed: {alert.environment}{known}"
    lines = [*alert.figures, *([f"reports: {alert.job_url}"] if alert.job_url else [])]
    done = alerts.notify(alert, (webhook_url,))
    if gitlab is not None:
        description = "\n".join([f"The scheduled load test against {target} failed:", "",
                                 *(f"- {line}" for line in lines)])
        done.append(gitlab.open_or_update_issue(title, description, ISSUE_LABELS))
    else:
        done.append("GitLab issue skipped: CI_SERVER_URL, GITLAB_API_TOKEN or CI_PROJECT_ID not set")
    return done
