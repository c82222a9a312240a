"""Canary deploy: the new image in a `<deployment>-canary` Deployment behind the same Service, grown
through steps, each judged against stable by `ci.progressive.canary_analysis`; promoted through the ordinary
watched rollout (`ci.deploy.rolling.roll_out`) only when every step passed.

Under the stable Deployment's Lease for the whole run, so no other deploy writes it meanwhile. At
each step: the canary is scaled to its share of stable's replica count and watched like any rollout
(fail fast on a crash loop or an unpullable image); the pods are scraped; after the interval they
are scraped again and, when either side saw too little traffic, the analysis sends its own requests
(the input example, or a sample file) straight to each side's pods until both have enough. A step
that fails or stays inconclusive ends the run: the canary is deleted and stable was never written.
A manual decision (`ci canary promote|abort`, an annotation on the canary) ends it too. Returns a
`CanaryResult` whose `failing` names the check and its figures (what an alert is built from).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from ci.clients.kube import Kube
from ci.deploy import lock as deploy_lock
from ci.deploy import rolling as deploy
from ci.deploy import rollout
from ci.deploy.rolling import Limits, Target
from ci.deploy.smoke import Smoke
from ci.errors import CheckFailed
from ci.progressive import canary_analysis, pod_metrics
from ci.progressive import canary_objects as objects
from ci.progressive.canary_analysis import Scrape, Thresholds
from ci.progressive.pod_metrics import MetricsSource
from ci.reports import Check

log = logging.getLogger("ci.deploy")
TOP_UP_BATCH = 40  # own requests a side between two looks at the figures (fail fast on clear evidence)


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...] = (10, 50, 100)  # percent of stable's replica count
    interval: float = 60.0  # seconds of traffic per step before the analysis
    thresholds: Thresholds = Thresholds()
    bodies: tuple[bytes, ...] = ()  # the analysis' own requests (JSON bodies for /invocations)
    service: str | None = None  # the Service in front of both: the canary is removed once out of it
    max_own_requests: int = 1000  # per side and step; beyond it the step is inconclusive
    per_pod_concurrency: int = 2  # own requests in flight per pod: each pod of either side as loaded
    # Where the figures come from: (kube, pods, container, figures) -> pod name -> cumulative figures. The
    # pods' own /metrics through the API server, or a Prometheus (ci.progressive.prometheus_metrics).
    metrics: MetricsSource = pod_metrics.scrape


@dataclass
class Step:
    percent: int
    canary_replicas: int
    stable_replicas: int
    verdict: str  # "pass" | "fail" | "inconclusive" | "rollout-failed" | "promote" | "abort" (manual)
    checks: list[Check] = field(default_factory=list)
    canary: dict = field(default_factory=dict)  # canary_analysis.Figures
    stable: dict = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    own_requests: dict = field(default_factory=dict)  # side -> {HTTP status: count}
    seconds: float = 0.0


@dataclass
class CanaryResult:
    ok: bool
    outcome: str  # "promoted" | "aborted" | "inconclusive" | "promote-failed"
    message: str = ""
    decided_by: str = "analysis"  # "analysis" | "manual" | "rollout" (the canary's own pods failed)
    failing: dict | None = None  # step, check, detail and both sides' figures
    steps: list[Step] = field(default_factory=list)
    promotion: dict | None = None  # ci.deploy.rolling.DeployResult of the promotion
    started_at: float = 0.0  # epoch seconds
    evidence_at: float | None = None  # epoch seconds of the failing verdict
    removed_at: float | None = None  # epoch seconds the canary was deleted
    seconds: float = 0.0
    lock: dict = field(default_factory=dict)
    shadow: dict | None = None  # the shadow step before the first step (DEPLOY_STRATEGY=shadow-canary)


def run(kube: Kube, target: Target, limits: Limits, plan: Plan, smoke_check: Smoke | None) -> CanaryResult:
    """The whole canary under the stable Deployment's Lease."""
    with deploy_lock.locked(kube, target.deployment, limits.lock_timeout) as held:
        result = run_held(kube, target, limits, plan, smoke_check)
        result.lock = held.record()
        return result


def run_held(kube: Kube, target: Target, limits: Limits, plan: Plan, smoke_check: Smoke | None) -> CanaryResult:
    """The canary's steps, then the rollout if they pass, under the Lease the caller holds."""
    started = time.monotonic()
    stable = deploy.live_stable(kube, target, "canary")
    canary = objects.name(target.deployment)
    if remove(kube, canary, plan.service):
        log.info("removed %s left by an earlier canary", canary)
    result = CanaryResult(ok=False, outcome="aborted", started_at=time.time())
    try:
        passed = _steps(kube, target, limits, plan, stable, result)
    except BaseException:
        try:
            remove(kube, canary, plan.service)
        except CheckFailed as exc:  # keep the first error; the next canary run removes it
            log.error("%s not removed (%s): delete it, or re-run the job", canary, exc)
        raise
    if passed:
        log.info("canary passed every step: rolling %s out to %s", target.image, target.deployment)
        promotion = deploy.roll_out(kube, target, limits, smoke_check)
        result.promotion = asdict(promotion)
        result.ok, result.outcome = promotion.ok, "promoted" if promotion.ok else "promote-failed"
        result.message = (f"{result.message or f'canary passed {len(result.steps)} step(s)'}; "
                          f"promotion: {promotion.message}")
    remove(kube, canary, plan.service)
    result.removed_at = time.time()
    result.seconds = round(time.monotonic() - started, 2)
    if not passed:
        result.message += f"; canary removed, {target.deployment} unchanged"
    log.info("%s", result.message)
    return result


def _steps(kube: Kube, target: Target, limits: Limits, plan: Plan, stable: dict, result: CanaryResult) -> bool:
    """Run the steps; True to promote. Fills `result` with each step and, on a stop, why."""
    for percent in plan.steps:
        step_started = time.monotonic()
        stable_replicas = (kube.deployment(target.deployment) or stable)["spec"].get("replicas", 1)
        step = Step(percent, objects.replicas(stable_replicas, percent), stable_replicas, verdict="")
        result.steps.append(step)
        evidence = _scale(kube, target, limits, stable, step.canary_replicas)
        if evidence is None:
            decided = _observe(kube, target, limits, plan, stable, step)
        else:
            step.verdict, step.checks = "rollout-failed", [Check("canary_rollout", False, str(evidence))]
            decided = "rollout"
        step.seconds = round(time.monotonic() - step_started, 2)
        if decided == "promote":
            result.decided_by, result.message = "manual", f"promoted by hand at step {percent}%"
            return True
        if step.verdict != "pass":
            _stopped(result, step, decided)
            return False
        log.info("canary step %d%%: passed (%s)", percent, _summary(step))
    return True


def _stopped(result: CanaryResult, step: Step, decided: str) -> None:
    result.evidence_at = time.time()
    result.decided_by = {"analysed": "analysis", "abort": "manual"}.get(decided, decided)
    result.outcome = "inconclusive" if step.verdict == "inconclusive" else "aborted"
    failing = next((check for check in step.checks if not check.passed), None)
    if decided == "abort":
        result.message = f"aborted by hand at step {step.percent}%"
        return
    result.failing = {"step": step.percent, "check": failing.name, "detail": failing.detail,
                      "canary": step.canary, "stable": step.stable}
    what = "inconclusive" if step.verdict == "inconclusive" else "failed"
    result.message = f"canary {what} at step {step.percent}%: {failing.name}: {failing.detail}"


def _summary(step: Step) -> str:
    c, s = step.canary, step.stable
    return (f"canary {c.get('requests')} requests, error rate {c.get('error_rate')}, p95 {c.get('p95_seconds')}s; "
            f"stable {s.get('requests')} requests, error rate {s.get('error_rate')}, p95 {s.get('p95_seconds')}s")


def _scale(kube: Kube, target: Target, limits: Limits, stable: dict, count: int) -> rollout.Evidence | None:
    """Create the canary (first step) or resize it, then watch it become ready."""
    name = objects.name(target.deployment)
    current = kube.deployment(name)
    if current is None:
        written = kube.apply_object(objects.manifest(stable, target, count))
    else:
        written = kube.patch_deployment(name, [{"op": "replace", "path": "/spec/replicas", "value": count}])
    log.info("canary %s: %d pod(s) of %s", name, count, target.image)
    return deploy.wait(kube, name, written["metadata"]["generation"], limits, time.monotonic())


def _observe(kube: Kube, target: Target, limits: Limits, plan: Plan, stable: dict, step: Step) -> str:
    """Scrape, hold for the interval (watching the canary's pods and the manual decision), scrape
    again, top up with own requests, analyse. "analysed", "rollout", "promote" or "abort"."""
    sides = {"canary": objects.canary_pods_selector(stable), "stable": objects.stable_pods_selector(stable)}
    before = _read(kube, target, plan, sides)
    held = _hold(kube, target, limits, plan.interval, sides["canary"])
    if held in objects.DECISIONS:
        step.verdict = held
        step.checks = [Check("manual_decision", held == "promote", f"{held} requested on the canary Deployment")]
        return held
    if isinstance(held, rollout.Evidence):
        step.verdict, step.checks = "rollout-failed", [Check("canary_pods", False, str(held))]
        return "rollout"
    deltas = _deltas(kube, target, plan, sides, before)
    analysis, sent = None, 0
    while sent < plan.max_own_requests:
        needed = canary_analysis.missing(deltas["canary"], deltas["stable"], plan.thresholds)
        if not any(needed):
            break
        analysis = canary_analysis.early_failure(deltas["canary"], deltas["stable"], plan.thresholds)
        if analysis:
            log.info("canary step %d%%: failed before the minimum of requests, beyond sampling noise", step.percent)
            break
        if not plan.bodies:
            log.warning("canary step %d%%: too little traffic and no request body to add", step.percent)
            break
        batch = [min(n + max(n // 10, 5), TOP_UP_BATCH, plan.max_own_requests - sent) if n else 0 for n in needed]
        _top_up(kube, target, plan, sides, dict(zip(("canary", "stable"), batch, strict=True)), step)
        sent += max(batch)
        deltas = _deltas(kube, target, plan, sides, before)
    if step.own_requests:
        log.info("canary step %d%%: sent own requests %s", step.percent, step.own_requests)
    analysis = analysis or canary_analysis.analyse(deltas["canary"], deltas["stable"], plan.thresholds)
    step.verdict, step.checks, step.drift = analysis.verdict, analysis.checks, analysis.drift
    step.canary, step.stable = asdict(analysis.canary), asdict(analysis.stable)
    return "analysed"


def _top_up(kube: Kube, target: Target, plan: Plan, sides: dict[str, str], counts: dict[str, int],
            step: Step) -> None:
    """Send both sides their missing requests at the same time, as many in flight per pod on either
    side (one canary pod against two stable ones gets half the concurrency, not all of it)."""
    def send(side: str) -> tuple[str, dict[int, int]]:
        pods = pod_metrics.ready(kube.pods(sides[side]))
        return side, pod_metrics.send(kube, pods, target.container, list(plan.bodies), counts[side],
                                      max(1, plan.per_pod_concurrency * len(pods)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        for side, statuses in pool.map(send, [side for side, count in counts.items() if count]):
            mine = step.own_requests.setdefault(side, {})
            for status, n in statuses.items():
                mine[str(status)] = mine.get(str(status), 0) + n


def _read(kube: Kube, target: Target, plan: Plan, sides: dict[str, str]) -> dict[str, dict[str, Scrape]]:
    """Side -> pod -> figures now, of the pods that take traffic."""
    return {side: plan.metrics(kube, pod_metrics.ready(kube.pods(selector)), target.container,
                               canary_analysis.FIGURES)
            for side, selector in sides.items()}


def _deltas(kube: Kube, target: Target, plan: Plan, sides: dict[str, str],
            before: dict[str, dict[str, Scrape]]) -> dict[str, Scrape]:
    now = _read(kube, target, plan, sides)
    return {side: canary_analysis.total(canary_analysis.delta(before[side].get(pod), scrape)
                                        for pod, scrape in now[side].items()) for side in sides}


def _hold(kube: Kube, target: Target, limits: Limits, seconds: float, canary_selector: str):
    """Wait `seconds`; earlier a manual decision or evidence that a canary pod failed."""
    watch = rollout.Watch(readiness_limit=limits.readiness, max_restarts=limits.max_restarts)
    deadline = time.monotonic() + seconds
    while True:
        choice = objects.decision(kube.deployment(objects.name(target.deployment)))
        if choice:
            log.info("canary: %s requested by hand", choice)
            return choice
        evidence = watch.evidence(kube.pods(canary_selector), time.monotonic())
        if evidence:
            return evidence
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(limits.poll, max(deadline - time.monotonic(), 0)))


def remove(kube: Kube, canary: str, service: str | None = None, timeout: float = 60.0) -> bool:
    """Take the canary out of traffic, then delete it; False when there was none. Scaled to zero
    first (its pods terminate at once, not after the garbage collector reaches them) and deleted
    once no canary pod is an endpoint of `service`: from then on no request reaches it."""
    current = kube.deployment(canary)
    if current is None:
        return False
    kube.patch_deployment(canary, [{"op": "replace", "path": "/spec/replicas", "value": 0}])
    selector = ",".join(f"{k}={v}" for k, v in current["spec"]["selector"]["matchLabels"].items())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _serving(kube, selector, service):
        time.sleep(0.2)
    kube.delete_object("apps/v1", "Deployment", canary)
    log.info("canary %s deleted", canary)
    return True


def _serving(kube: Kube, selector: str, service: str | None) -> bool:
    """A canary pod is still running un-terminated, or still an endpoint of the Service."""
    pods = kube.pods(selector)
    if any(not pod["metadata"].get("deletionTimestamp") for pod in pods):
        return True
    names = {pod["metadata"]["name"] for pod in pods}
    subsets = ((kube.endpoints(service) or {}).get("subsets") or []) if service and names else []
    return any((address.get("targetRef") or {}).get("name") in names
               for subset in subsets for address in subset.get("addresses") or [])


def decide(kube: Kube, deployment: str, choice: str) -> str:
    """Ask the running canary of `deployment` to promote now or abort (the pipeline's manual jobs)."""
    canary = objects.name(deployment)
    if kube.deployment(canary) is None:
        raise CheckFailed(f"no canary of {deployment} is running in {kube.namespace} (no Deployment {canary})")
    kube.patch_deployment(canary, objects.decision_patch(choice), field_manager="pyfunc-deploy-decision")
    return f"{choice} requested on {canary}; the running canary job acts on it within seconds"
