"""How `ci deploy` replaces the live version: one strategy object per DEPLOY_STRATEGY, each run to the
end with its reports written and the deployment recorded; a failure raises CheckFailed (exit 1).

- rolling: the watched rolling update (`ci.deploy.rolling`), undone on failure.
- canary: a `<deployment>-canary` judged against stable step by step, then the rolling update (`ci.progressive.canary`).
- shadow: a `<deployment>-shadow` fed copies of stable's requests and compared row by row, then the
  rolling update (`ci.progressive.shadow`).
- shadow-canary: the shadow step first (no user sees the candidate); only if it passes, the canary
  (some users do), then the rolling update; one Lease for all, one report (canary.json with the shadow's).

A canary or a shadow needs a live version to compare with: a first deploy (no Deployment yet) rolls
out, so DEPLOY_STRATEGY can be set once per project.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ci import job
from ci.clients.kube import Kube
from ci.deploy import lock as deploy_lock
from ci.deploy import rolling as deploy
from ci.deploy.rolling import Limits, Target
from ci.deploy.smoke import Smoke, request_bodies
from ci.errors import CheckFailed
from ci.progressive import canary, canary_report, pod_metrics, shadow, shadow_report
from ci.progressive.canary_analysis import Thresholds
from ci.progressive.canary_objects import parse_steps
from ci.progressive.prometheus_metrics import PrometheusMetrics
from ci.progressive.shadow_analysis import ShadowAnalysis, ShadowThresholds

log = logging.getLogger("ci.deploy")
NAMES = ("rolling", "canary", "shadow", "shadow-canary")


class Strategy(Protocol):
    name: str

    def run(self, client: Kube, target: Target, limits: Limits, check: Smoke | None, output_dir: Path) -> str:
        """Deploy; the line to print. CheckFailed when the new version is not live."""


@dataclass(frozen=True)
class Rolling:
    name: str = "rolling"

    def run(self, client: Kube, target: Target, limits: Limits, check: Smoke | None, output_dir: Path) -> str:
        result, report = deploy.deploy_and_report(client, target, limits, check, output_dir)
        if not result.ok:
            raise CheckFailed(f"{result.message}\nreport: {report}")
        return f"{target.namespace}/{target.deployment}: {result.message}; wrote {report}"


@dataclass(frozen=True)
class Canary:
    plan: canary.Plan
    name: str = "canary"

    def run(self, client: Kube, target: Target, limits: Limits, check: Smoke | None, output_dir: Path) -> str:
        result = canary.run(client, target, limits, self.plan, check)
        paths = canary_report.write(output_dir, result, image=target.image, namespace=target.namespace,
                                    deployment=target.deployment, figures_from=figures_from(self.plan.metrics))
        return _recorded(target, result.ok, result.message, paths[0])


@dataclass(frozen=True)
class Shadow:
    plan: shadow.ShadowPlan
    name: str = "shadow"

    def run(self, client: Kube, target: Target, limits: Limits, check: Smoke | None, output_dir: Path) -> str:
        result = shadow.run(client, target, limits, self.plan, check)
        paths = shadow_report.write(output_dir, ShadowAnalysis(result.verdict, result.checks, result.figures),
                                    result.seconds, image=target.image, namespace=target.namespace,
                                    deployment=target.deployment, outcome=result.outcome,
                                    own_requests=result.own_requests, promotion=result.promotion,
                                    figures_from=figures_from(self.plan.metrics))
        return _recorded(target, result.ok, result.message, paths[0])


def figures_from(source: pod_metrics.MetricsSource) -> str:
    """Where an analysis read its figures, as its report says."""
    if isinstance(source, PrometheusMetrics):
        return source.describe()
    return "each pod's /metrics through the API server"


@dataclass(frozen=True)
class ShadowThenCanary:
    shadow_plan: shadow.ShadowPlan
    plan: canary.Plan
    name: str = "shadow-canary"

    def run(self, client: Kube, target: Target, limits: Limits, check: Smoke | None, output_dir: Path) -> str:
        with deploy_lock.locked(client, target.deployment, limits.lock_timeout) as held:
            compared = shadow.compare(client, target, limits, self.shadow_plan)
            if compared.verdict == "pass":
                log.info("shadow passed: the canary of %s starts", target.image)
                result = canary.run_held(client, target, limits, self.plan, check)
            else:
                result = canary.CanaryResult(
                    ok=False, outcome="rejected-by-shadow", decided_by="shadow", failing=compared.failing,
                    message=f"{compared.message}; no canary started, {target.deployment} unchanged")
                log.info("%s", result.message)
            result.lock = held.record()
        result.shadow = {key: value for key, value in asdict(compared).items() if key not in ("promotion", "lock")}
        paths = canary_report.write(output_dir, result, image=target.image, namespace=target.namespace,
                                    deployment=target.deployment, figures_from=figures_from(self.plan.metrics))
        return _recorded(target, result.ok, result.message, paths[0])


def _recorded(target: Target, ok: bool, message: str, report: Path) -> str:
    job.record_deployment(target.namespace, ok)
    if not ok:
        raise CheckFailed(f"{message}\nreport: {report}")
    return f"{target.namespace}/{target.deployment}: {message}; wrote {report}"


def needs_own_requests(name: str, settings: dict[str, Any]) -> bool:
    """Whether the strategy sends requests of its own and no input file names them (the smoke's body then)."""
    return any(part in ("canary", "shadow") and not settings[f"{part}_input"] for part in name.split("-"))


def choose(name: str, settings: dict[str, Any], body: bytes | None, service: str) -> Strategy:
    """The strategy `name` with its plan from the command's `settings` (ConfigError for a bad one)."""
    if name == "canary":
        return Canary(canary_plan(settings, body, service))
    if name == "shadow":
        return Shadow(shadow_plan(settings, body))
    if name == "shadow-canary":
        return ShadowThenCanary(shadow_plan(settings, body), canary_plan(settings, body, service))
    return Rolling()


def for_live(strategy: Strategy, client: Kube, deployment: str) -> Strategy:
    """`strategy`, or rolling for a first deploy: a canary or a shadow needs a live version."""
    if strategy.name != "rolling" and client.deployment(deployment) is None:
        log.info("%s does not exist yet: nothing to compare a %s with, this first deploy rolls out", deployment,
                 strategy.name)
        return Rolling()
    return strategy


def _bodies(settings: dict[str, Any], key: str, variable: str, body: bytes | None) -> tuple[bytes, ...]:
    return request_bodies(settings[key], variable) if settings[key] else ((body,) if body else ())


def canary_plan(settings: dict[str, Any], body: bytes | None, service: str) -> canary.Plan:
    return canary.Plan(
        steps=parse_steps(settings["canary_steps"]), interval=settings["canary_interval"],
        bodies=_bodies(settings, "canary_input", "CANARY_INPUT", body), service=service,
        metrics=metrics_source(settings), max_own_requests=settings["canary_max_own_requests"],
        thresholds=Thresholds(
            min_requests=settings["canary_min_requests"], max_error_rate=settings["canary_max_error_rate"],
            max_error_increase=settings["canary_max_error_increase"],
            max_p95_seconds=settings["canary_max_p95_ms"] / 1000, max_p99_seconds=settings["canary_max_p99_ms"] / 1000,
            max_latency_ratio=settings["canary_max_latency_ratio"],
            latency_slack_seconds=settings["canary_latency_slack_ms"] / 1000, max_psi=settings["canary_max_psi"]))


def shadow_plan(settings: dict[str, Any], body: bytes | None) -> shadow.ShadowPlan:
    return shadow.ShadowPlan(
        duration=settings["shadow_duration"], max_wait=settings["shadow_max_wait"],
        sample_rate=settings["shadow_sample_rate"], bodies=_bodies(settings, "shadow_input", "SHADOW_INPUT", body),
        max_own_requests=settings["shadow_max_own_requests"], metrics=metrics_source(settings),
        thresholds=ShadowThresholds(min_rows=settings["shadow_min_rows"],
                                    max_failed_share=settings["shadow_max_failed_share"],
                                    max_changed_share=settings["shadow_max_changed_share"],
                                    max_relative_difference=settings["shadow_max_relative_difference"]))


def metrics_source(settings: dict[str, Any]):
    """Where the canary's and the shadow's analyses read their figures: each pod's /metrics, or a
    Prometheus that scrapes them."""
    if not settings["prometheus_url"]:
        return pod_metrics.scrape
    return PrometheusMetrics(settings["prometheus_url"], token=settings["prometheus_token"],
                             pod_label=settings["prometheus_pod_label"],
                             namespace_label=settings["prometheus_namespace_label"], wait=settings["prometheus_wait"])
