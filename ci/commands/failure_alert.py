"""`@alert_on_failure(...)`: a command that fails sends one alert, then fails exactly as it would have.

One decorator for every command that has a model version to name (the gates, deploy, promote), so the
alert is built in one place from the command's own options: the command names what failed, the error's
lines are the figures (a gate's failed checks with their values, a deploy's rollout and undo). Usage errors
from click (a missing option) send nothing. The scheduled load test alerts by itself (`ci.loadtest.live`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import click

from ci import alerts, job


def alert_on_failure(what: str | Callable[[dict], str], *, version: str = "model_version",
                     environment: str | Callable[[dict], str] = ""):
    """`what`: e.g. "latency gate failed", or a function of the options that says it; `version`: the
    option holding the model version; `environment`: what to name when the job has no
    CI_ENVIRONMENT_NAME, or a function of the options that says it."""
    def decorate(command):
        @functools.wraps(command)
        def run(**params):
            try:
                return command(**params)
            except (click.exceptions.ClickException, click.exceptions.Exit):
                raise  # usage, not a failed outcome
            except Exception as exc:
                fallback = environment(params) if callable(environment) else environment
                failed = what(params) if callable(what) else what
                alert = alerts.Alert.from_job(failed, params.get("model_name") or params.get("model_uri") or "",
                                              params.get(version) or "", job.environment(fallback), figures(exc))
                for line in alerts.notify(alert):
                    click.echo(line, err=True)
                raise
        return run
    return decorate


def figures(exc: Exception) -> list[str]:
    """The error's lines; a first line that only introduces the lines below it ("... failed (p95):") is
    left out, the details are the figures."""
    lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return lines[1:] if len(lines) > 1 and lines[0].rstrip().endswith(":") else lines
