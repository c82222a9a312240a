"""Shadow deploy: the new image in a `<deployment>-shadow` Deployment that takes no user traffic; the
stable pods copy their requests to it and count, row by row, what it answers differently
(service/shadow.py); `ci.progressive.shadow_analysis` judges those figures; the ordinary watched rollout
(`ci.deploy.rolling.roll_out`) follows only when they pass. No user ever gets an answer from the candidate.

Under the stable Deployment's Lease for the whole run. The shadow Deployment is created and watched
like any rollout (a crash loop or an unpullable image fails the step); its pods' IPs are written into
the ConfigMap the stable pods read (`ci.progressive.shadow_objects`); the stable pods are scraped; the step holds
at least `duration` seconds and until `min_rows` rows were compared, sending the stable pods its own
requests (their copies are compared like any) when live traffic is short, for at most `max_wait`
seconds. Whatever happens the ConfigMap is emptied (no more copies) and the shadow deleted.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

from ci.clients.kube import Kube
from ci.deploy import lock as deploy_lock
from ci.deploy import rolling as deploy
from ci.deploy import rollout
from ci.deploy.rolling import Limits, Target
from ci.deploy.smoke import Smoke
from ci.progressive import pod_metrics
from ci.progressive import shadow_objects as objects
from ci.progressive.canary_objects import stable_pods_selector
from ci.progressive.pod_metrics import MetricsSource
from ci.progressive.shadow_analysis import (
    FIGURES,
    ShadowAnalysis,
    ShadowScrape,
    ShadowThresholds,
    analyse,
    delta,
    figures,
    total,
)
from ci.reports import Check

log = logging.getLogger("ci.deploy")
OWN_BATCH = 40  # own requests between two looks at the figures, once copies are counted
PROBE_BATCH = 4  # own requests a look before that: the stable pods may not read their new targets yet


@dataclass(frozen=True)
class ShadowPlan:
    duration: float = 60.0  # seconds of copies at least
    max_wait: float = 300.0  # seconds to reach min_rows, else inconclusive
    sample_rate: float = 1.0  # share of the stable pods' requests copied
    thresholds: ShadowThresholds = ShadowThresholds()
    bodies: tuple[bytes, ...] = ()  # own requests (JSON bodies for /invocations) when traffic is short
    max_own_requests: int = 2000
    metrics: MetricsSource = pod_metrics.scrape  # the stable pods' own /metrics, or a Prometheus


@dataclass
class ShadowResult:
    ok: bool
    outcome: str  # "promoted" | "rejected" | "inconclusive" | "shadow-failed" | "promote-failed"
    message: str = ""
    verdict: str = ""
    checks: list[Check] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    failing: dict | None = None
    own_requests: dict = field(default_factory=dict)  # HTTP status -> count
    promotion: dict | None = None
    seconds: float = 0.0
    lock: dict = field(default_factory=dict)


def run(kube: Kube, target: Target, limits: Limits, plan: ShadowPlan, smoke_check: Smoke | None) -> ShadowResult:
    """The whole shadow step, then the rollout if it passed, under the stable Deployment's Lease."""
    with deploy_lock.locked(kube, target.deployment, limits.lock_timeout) as held:
        result = _run(kube, target, limits, plan, smoke_check)
        result.lock = held.record()
        return result


def compare(kube: Kube, target: Target, limits: Limits, plan: ShadowPlan) -> ShadowResult:
    """The shadow step alone, under the Lease the caller holds (a canary may follow it): the verdict,
    the shadow removed whatever happened, the stable Deployment untouched."""
    started = time.monotonic()
    stable = deploy.live_stable(kube, target, "shadow")
    config_name = objects.config_map_name(stable)
    shadow = objects.name(target.deployment)
    remove(kube, shadow, config_name)
    try:
        result = _step(kube, target, limits, plan, stable, config_name)
    finally:
        remove(kube, shadow, config_name)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _run(kube: Kube, target: Target, limits: Limits, plan: ShadowPlan, smoke_check: Smoke | None) -> ShadowResult:
    started = time.monotonic()
    result = compare(kube, target, limits, plan)
    if result.verdict == "pass":
        log.info("shadow passed: rolling %s out to %s", target.image, target.deployment)
        promotion = deploy.roll_out(kube, target, limits, smoke_check)
        result.promotion = asdict(promotion)
        result.ok, result.outcome = promotion.ok, "promoted" if promotion.ok else "promote-failed"
        result.message = f"{result.message}; promotion: {promotion.message}"
    else:
        result.message += f"; shadow removed, {target.deployment} unchanged"
    result.seconds = round(time.monotonic() - started, 2)
    log.info("%s", result.message)
    return result


def _step(kube: Kube, target: Target, limits: Limits, plan: ShadowPlan, stable: dict,
          config_name: str) -> ShadowResult:
    shadow = objects.name(target.deployment)
    written = kube.apply_object(objects.manifest(stable, target))
    log.info("shadow %s: 1 pod of %s, no user traffic", shadow, target.image)
    evidence = deploy.wait(kube, shadow, written["metadata"]["generation"], limits, time.monotonic())
    if evidence is not None:
        return _failed(f"the shadow's pods failed: {evidence}", "shadow_rollout")
    pods = pod_metrics.ready(kube.pods(objects.pods_selector(target.deployment)))
    urls = objects.pod_urls(pods, pod_metrics.port(pods[0], target.container)) if pods else []
    if not urls:
        return _failed("the shadow's pods are ready but have no pod IP to copy requests to", "shadow_rollout")
    stable_selector = stable_pods_selector(stable)
    before = _scrape(kube, stable_selector, target.container, plan.metrics)
    kube.apply_object(objects.config_map(config_name, urls, plan.sample_rate))
    log.info("shadow: stable pods copy %.0f%% of their requests to %s", plan.sample_rate * 100, ", ".join(urls))
    own: dict[str, int] = {}
    began, watch = time.monotonic(), rollout.Watch(readiness_limit=limits.readiness, max_restarts=limits.max_restarts)
    while True:
        time.sleep(limits.poll)
        evidence = watch.evidence(kube.pods(objects.pods_selector(target.deployment)), time.monotonic())
        if evidence is not None:
            return _failed(f"the shadow's pods failed while compared: {evidence}", "shadow_pods", own)
        now = _scrape(kube, stable_selector, target.container, plan.metrics)
        step = total(delta(before.get(pod), scrape) for pod, scrape in now.items())
        elapsed = time.monotonic() - began
        if (step.rows >= plan.thresholds.min_rows and elapsed >= plan.duration) or elapsed >= plan.max_wait:
            break
        if step.rows < plan.thresholds.min_rows and plan.bodies and sum(own.values()) < plan.max_own_requests:
            copying = sum(step.copies.values()) > 0
            _send_own(kube, stable_selector, target.container, plan, own, OWN_BATCH if copying else PROBE_BATCH)
    return _judged(analyse(step, plan.thresholds), own)


def _scrape(kube: Kube, selector: str, container: str, metrics: MetricsSource) -> dict[str, ShadowScrape]:
    return metrics(kube, pod_metrics.ready(kube.pods(selector)), container, FIGURES)


def _send_own(kube: Kube, selector: str, container: str, plan: ShadowPlan, own: dict[str, int], count: int) -> None:
    """`count` own requests to the stable pods (answered by stable: their copies are compared)."""
    pods = pod_metrics.ready(kube.pods(selector))
    start = sum(own.values())
    bodies = list(plan.bodies[start % len(plan.bodies):] + plan.bodies[:start % len(plan.bodies)])
    for status, n in pod_metrics.send(kube, pods, container, bodies, count, max(1, 2 * len(pods))).items():
        own[str(status)] = own.get(str(status), 0) + n


def _judged(analysis: ShadowAnalysis, own: dict[str, int]) -> ShadowResult:
    result = ShadowResult(ok=False, outcome={"pass": "promoted", "fail": "rejected"}.get(analysis.verdict,
                                                                                         "inconclusive"),
                          verdict=analysis.verdict, checks=analysis.checks, figures=analysis.figures,
                          own_requests=own)
    failing = analysis.failing
    if analysis.verdict == "pass":
        result.message = f"shadow passed: {analysis.figures['rows']} rows compared, " \
                         f"{analysis.figures['rows_changed']} changed"
    else:
        result.failing = {"check": failing.name, "detail": failing.detail}
        result.message = f"shadow {'failed' if analysis.verdict == 'fail' else 'inconclusive'}: " \
                         f"{failing.name}: {failing.detail}"
    return result


def _failed(why: str, check: str, own: dict[str, int] | None = None) -> ShadowResult:
    return ShadowResult(ok=False, outcome="shadow-failed", message=f"shadow failed: {why}", verdict="fail",
                        checks=[Check(check, False, why)], figures=figures(ShadowScrape()),
                        failing={"check": check, "detail": why}, own_requests=own or {})


def remove(kube: Kube, shadow: str, config_name: str) -> None:
    """No more copies (the ConfigMap emptied), then the shadow Deployment deleted."""
    if kube.get_object("v1", "ConfigMap", config_name) is not None:
        kube.apply_object(objects.config_map(config_name, [], 0.0))
    if kube.deployment(shadow) is not None:
        kube.delete_object("apps/v1", "Deployment", shadow)
        log.info("shadow %s deleted", shadow)
