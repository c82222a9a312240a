"""The shadow step's options on `python -m ci deploy --strategy shadow` and the run itself."""
from __future__ import annotations

from pathlib import Path

import click

from ci import job, kube, shadow_report
from ci import shadow as logic
from ci.commands import options
from ci.deploy import Limits, Target
from ci.errors import CheckFailed
from ci.shadow_analysis import ShadowAnalysis, ShadowThresholds
from ci.smoke import Smoke, request_bodies

DEFAULTS = ShadowThresholds()


def shadow_options(fn):
    """The shadow step's settings, each with its GitLab variable."""
    def option(flag: str, env: str, default, kind, text: str):
        return click.option(flag, envvar=env, default=default, type=kind, show_default=True, show_envvar=True,
                            help=text)

    positive, share = click.FloatRange(min=0), click.FloatRange(min=0, max=1)
    return options._stack(fn, [
        option("--shadow-duration", "SHADOW_DURATION", 60.0, positive,
               "Seconds the stable pods copy requests to the shadow, at least."),
        option("--shadow-max-wait", "SHADOW_MAX_WAIT", 300.0, positive,
               "Most seconds to reach SHADOW_MIN_ROWS compared rows; past it the step is inconclusive."),
        option("--shadow-sample-rate", "SHADOW_SAMPLE_RATE", 1.0, share,
               "Share of the stable pods' requests copied to the shadow."),
        option("--shadow-min-rows", "SHADOW_MIN_ROWS", DEFAULTS.min_rows, click.IntRange(min=1),
               "Rows compared before a verdict; the step sends the stable pods its own requests up to this."),
        option("--shadow-max-own-requests", "SHADOW_MAX_OWN_REQUESTS", 2000, click.IntRange(min=0),
               "Most requests the step sends the stable pods itself."),
        option("--shadow-input", "SHADOW_INPUT", None, click.Path(exists=True, dir_okay=False, path_type=Path),
               "JSON lines, one /invocations body each, for the step's own requests [default: the smoke's body]."),
        option("--shadow-max-changed-share", "SHADOW_MAX_CHANGED_SHARE", DEFAULTS.max_changed_share, share,
               "Share of rows whose class (a label, an integer, a string output) may change."),
        option("--shadow-max-relative-difference", "SHADOW_MAX_RELATIVE_DIFFERENCE",
               DEFAULTS.max_relative_difference, positive,
               "p99 of a numeric output's relative difference, candidate against stable."),
        option("--shadow-max-failed-share", "SHADOW_MAX_FAILED_SHARE", DEFAULTS.max_failed_share, share,
               "Share of copies the shadow may refuse, fail or answer with other rows."),
    ])


def plan(settings: dict, body: bytes | None) -> logic.ShadowPlan:
    """The ShadowPlan from the options (`settings`: the command's keyword arguments)."""
    bodies = request_bodies(settings["shadow_input"], "SHADOW_INPUT") if settings["shadow_input"] else (
        (body,) if body else ())
    return logic.ShadowPlan(
        duration=settings["shadow_duration"], max_wait=settings["shadow_max_wait"],
        sample_rate=settings["shadow_sample_rate"], bodies=bodies,
        max_own_requests=settings["shadow_max_own_requests"],
        thresholds=ShadowThresholds(min_rows=settings["shadow_min_rows"],
                                    max_failed_share=settings["shadow_max_failed_share"],
                                    max_changed_share=settings["shadow_max_changed_share"],
                                    max_relative_difference=settings["shadow_max_relative_difference"]))


def run(client: kube.Kube, target: Target, limits: Limits, shadow_plan: logic.ShadowPlan, check: Smoke | None,
        output_dir: Path) -> None:
    """Run the shadow step (and the rollout it allows), write its reports, record the deployment; exit 1
    (CheckFailed) unless the new version was rolled out."""
    result = logic.run(client, target, limits, shadow_plan, check)
    analysis = ShadowAnalysis(result.verdict, result.checks, result.figures)
    paths = shadow_report.write(output_dir, analysis, result.seconds, image=target.image,
                                namespace=target.namespace, deployment=target.deployment, outcome=result.outcome,
                                own_requests=result.own_requests, promotion=result.promotion)
    job.record_deployment(target.namespace, result.ok)
    if not result.ok:
        raise CheckFailed(f"{result.message}\nreport: {paths[0]}")
    click.echo(f"{target.namespace}/{target.deployment}: {result.message}; wrote {paths[0]}")
