"""Model-load gate: run the exact image that will ship and prove the model in it loads and answers.

The container runs shaped like the production pod (read-only root, writable /tmp, the image's
non-root user) with no tracking server reachable, because a pod must start without one. The
expected answer is the model's own prediction on its input example, computed in the same image by a
second container (`python -m service.expect`, no network): this job never loads the model, so it needs
none of the model's requirements. Numbers are compared at the precision of the model's output
(float32 or float64: service/precision.py), named in the report. Fields the model answers differently
from call to call are reported as non-deterministic and left out of the comparison. When the model
does not load, `load_failures` names the cause and the fix.

The container gets the pod's CPU and memory limits and as long to turn ready as the pod's startup
probe allows (ci/capacity/pod_shape.py): a model too large for the pod is OOM-killed or too slow here, before
any rollout, and the report gives its load time and working set against those limits.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci.capacity.pod_shape import PodShape
from ci.errors import CheckFailed, ToolError
from ci.gates.answers import answer_precision, max_difference, summarise, unstable_paths
from ci.gates.candidate import (
    LOG_TAIL_LINES,
    NO_TRACKING_SERVER,
    POLL_S,
    ExitWatch,
    answering,
    check_bound,
    on_free_port,
)
from ci.gates.load_failures import classify, runtime_versions
from ci.gates.result import GateResult
from ci.image.credentials import NO_CREDENTIALS, Credentials, registry_authfile
from ci.registry.model_ref import ModelRef
from ci.reports import Check
from ci.tools import podman, tail

log = logging.getLogger("ci.gates.load")

GATE = "load"
DEFAULT_READY_TIMEOUT = 120.0  # without a startup probe in the manifests
SIGKILL_EXIT = 137
MEMORY_HEADROOM = 0.9  # the working set after a prediction may fill this share of the pod's memory limit


@dataclass(frozen=True)
class LoadGateResult:
    image: str
    ready_seconds: float
    model_version: str
    rows: int
    max_abs_diff: float
    precision: str = "float64"  # of the model's output: what the numbers were compared at
    non_deterministic: list[str] = dataclasses.field(default_factory=list)
    unused_requirements: list[dict] = dataclasses.field(default_factory=list)  # never imported, largest first
    memory_bytes: int | None = None  # the container's working set after a prediction
    memory_limit: int | None = None  # the pod's, which the container ran with
    startup_seconds: float | None = None  # the ready timeout: by default what the pod's startup probe allows


def _get_json(url: str, body: bytes | None = None) -> tuple[int, object]:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


EXPECT = ["python", "-m", "service.expect"]
NO_EXAMPLE_EXIT = 3
UNUSED_REPORTED_FROM = 1_000_000  # bytes: a requirement the model never imports, reported from this size


@dataclass(frozen=True)
class OwnAnswer:
    """What `service.expect` found in the image: the example body, two of the model's own answers to it,
    its row count, and each of the model's requirements with its size, whether the model imported it and
    (the large ones it imported) whether it loads and answers the same without it (`needed`)."""

    body: bytes
    answers: list[object]
    rows: int
    requirements: list[dict] = dataclasses.field(default_factory=list)

    def unused(self, at_least_bytes: int = UNUSED_REPORTED_FROM) -> list[dict]:
        """The model's requirements it does not need (never imported, or imported only in passing: it
        loads and answers the same without), largest first."""
        return sorted((r for r in self.requirements if r["bytes"] >= at_least_bytes
                       and (not r.get("imported", True) or r.get("needed") is False)), key=lambda r: -r["bytes"])


def expected_answer(image: str, *, cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None,
                    requirements: bool = True) -> OwnAnswer:
    """The serving input example baked into `image` and two of the model's own answers to it, computed
    in-process inside the image (`service.expect`), not in this job; with `requirements`, which of the
    model's requirements it needs."""
    command = EXPECT if requirements else [*EXPECT, "--answers-only"]
    try:
        out = podman.run_once(image, command, cli=cli, env=env, isolated=True, environment=NO_TRACKING_SERVER)
    except ToolError as exc:
        if f"exit {NO_EXAMPLE_EXIT})" in str(exc):
            raise CheckFailed("the model has no serving input example (serving_input_example.json): log it "
                              "with `input_example=` so the gate (and the service warm-up) can predict") from exc
        raise CheckFailed(f"the model's own prediction in {image} (`python -m service.expect`) failed: "
                          f"{exc}") from exc
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        payload = json.loads(lines[-1])
        return OwnAnswer(payload["body"].encode(), payload["answers"], int(payload["rows"]),
                         payload.get("requirements", []))
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(f"`python -m service.expect` in {image} printed no answer: is the image built "
                          "from this project's service?") from exc


def describe_unused(unused: list[dict]) -> str:
    """The model's requirements it never imports, as "torch 2.13.0+cpu (780 MB), ..."."""
    return ", ".join(f"{r['name']} {r['version']} ({r['bytes'] / 1e6:,.0f} MB)" for r in unused)


def _version_of(payload: object) -> str | None:
    value = payload.get("model_version") if isinstance(payload, dict) else None
    return None if value is None else str(value)


def ready_timeout_for(pod: PodShape | None, given: float | None = None) -> float:
    """`given`, else what the pod's startup probe allows, else DEFAULT_READY_TIMEOUT."""
    return given or (pod.startup_seconds if pod and pod.startup_seconds else DEFAULT_READY_TIMEOUT)


def run_load_gate(image: str, *, expected_version: str, ready_timeout: float | None = None,
                  pod: PodShape | None = None, authfile: Path | None = None,
                  cli: str = podman.DEFAULT_CLI, env: Mapping[str, str] | None = None) -> LoadGateResult:
    """Start `image` on a free 127.0.0.1 port with `cli` (podman or docker) and the `pod`'s limits, wait for
    /readyz, check /version and one prediction, read the working set; CheckFailed names what went wrong."""
    timeout = ready_timeout_for(pod, ready_timeout)
    memory_limit = pod.memory_limit if pod else None

    def ready(base: str, name: str) -> float:
        return _wait_ready(image, name, base, time.monotonic(), timeout, cli, env, memory_limit)

    with on_free_port(image, ready, prefix="load-gate", authfile=authfile, cli=cli, env=env,
                      cpus=pod.cpu_limit if pod else None, memory=memory_limit) as (base, name, ready_seconds):
        own = expected_answer(image, cli=cli, env=env)
        body, (want, again), rows = own.body, own.answers, own.rows
        unstable = unstable_paths(want, again)
        if unstable:
            log.warning("non-deterministic output, left out of the comparison: %s", ", ".join(summarise(unstable)))
        status, info = _get_json(f"{base}/version")
        version = _version_of(info)
        if status != 200 or version != str(expected_version):
            raise CheckFailed(f"/version of {image} reports model version {version!r} (HTTP {status}), "
                              f"expected {expected_version}: the image was built from another version")
        status, got = _get_json(f"{base}/invocations", body)
        if status != 200:
            raise CheckFailed(f"prediction on the input example failed with HTTP {status}: {got}")
        precision = answer_precision(want)
        diff = max_difference(got, want, ignore=set(unstable), precision=precision)
        memory = podman.working_set(name, cli=cli, env=env)
    log.info("load gate passed: ready in %.1fs, version %s, %d rows equal at %s", ready_seconds, version, rows,
             precision)
    return LoadGateResult(image=image, ready_seconds=round(ready_seconds, 2), model_version=version,
                          rows=rows, max_abs_diff=diff, precision=precision.name,
                          non_deterministic=summarise(unstable), unused_requirements=own.unused(),
                          memory_bytes=memory, memory_limit=memory_limit, startup_seconds=timeout)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _wait_ready(image: str, name: str, base: str, started: float, timeout: float, cli: str,
                env: Mapping[str, str] | None, memory_limit: int | None) -> float:
    exited = ExitWatch(name, cli, env)
    while time.monotonic() - started < timeout:
        if answering(base, name) == 200:
            return time.monotonic() - started
        state = exited()
        if state is not None:
            logs = podman.logs(name, cli=cli, env=env)
            check_bound(logs, base)
            versions = lambda: runtime_versions(image, env, cli)  # noqa: E731
            cause = classify(logs, versions)
            # SIGKILL under a memory limit is the OOM killer (podman on cgroup v1 does not set OOMKilled)
            oom = state.oom_killed or (memory_limit is not None and state.exit_code == SIGKILL_EXIT)
            if oom and memory_limit:
                cause = (f"pod-memory: the model needs more memory than the pod's limit of {_mb(memory_limit)} "
                         "to load (the kernel's OOM killer stopped it, as it would stop the pod).\nFix: raise "
                         "resources.limits.memory in the manifests (CAPACITY_MANIFESTS names the overlay)")
            raise CheckFailed(f"the model in {image} did not load (container {state.status}, exit "
                              f"{state.exit_code}{', OOM-killed' if oom else ''}).\n"
                              f"Cause: {cause}\n--- container log ---\n"
                              f"{tail(logs, LOG_TAIL_LINES)}")
        time.sleep(POLL_S)
    logs = podman.logs(name, cli=cli, env=env)
    raise CheckFailed(f"{image} was not ready within {timeout:.0f}s (/readyz never returned 200; by default the "
                      "time the pod's startup probe allows, past which the pod would be restarted before it "
                      "serves): raise the startupProbe's failureThreshold in the manifests if the model is this "
                      "slow to load.\n"
                      f"Cause: {classify(logs)}\n--- container log ---\n{tail(logs, LOG_TAIL_LINES)}")


def memory_check(result: LoadGateResult) -> Check | None:
    """The working set against the pod's memory limit (None: no limit to hold it to)."""
    if not result.memory_limit or result.memory_bytes is None:
        return None
    share = result.memory_bytes / result.memory_limit
    detail = (f"working set {_mb(result.memory_bytes)} after a prediction, {share:.0%} of the pod's memory "
              f"limit of {_mb(result.memory_limit)}")
    if share <= MEMORY_HEADROOM:
        return Check("memory", True, detail)
    return Check("memory", False, f"{detail}: over {MEMORY_HEADROOM:.0%}, so the first burst of requests or a "
                 "larger batch gets the pod OOM-killed; raise resources.limits.memory in the manifests "
                 "(CAPACITY_MANIFESTS names the overlay)")


def load_gate(image: str, model: ModelRef, *, ready_timeout: float | None = None, pod: PodShape | None = None,
              credentials: Credentials = NO_CREDENTIALS, cli: str = podman.DEFAULT_CLI) -> GateResult:
    """The gate: run the version's image shaped like the `pod`, compare; a failure is a failed check, not
    raised. Everything it needs of the model is in the image."""
    started = time.monotonic()
    with registry_authfile(image.split("@")[0], credentials) as authfile:
        try:
            result = run_load_gate(image, expected_version=model.version,
                                   ready_timeout=ready_timeout, pod=pod, authfile=authfile, cli=cli)
        except CheckFailed as exc:
            return GateResult(GATE, [Check("load", False, str(exc))],
                              {"image": image, "error": str(exc).splitlines()[0][:300]}, {"image": image},
                              seconds=time.monotonic() - started)
    detail = (f"ready in {result.ready_seconds:.1f}s of {result.startup_seconds:.0f}s allowed, "
              f"model version {result.model_version}, "
              f"{result.rows} rows equal the model's own answer at {result.precision} precision")
    if result.non_deterministic:
        detail += (f" (non-deterministic, not compared: {', '.join(result.non_deterministic)})")
    if result.unused_requirements:
        detail += (f"; required but not needed by this model (never imported, or it loads and answers the same "
                   f"without): {describe_unused(result.unused_requirements)}: the image carries them for nothing (a "
                   "notebook environment's packages, captured when the model was logged): log it with "
                   "`pip_requirements` that leave them out, or name them in IMAGE_DROP_REQUIREMENTS to build "
                   "without them")
    figures = dataclasses.asdict(result)
    summary = {k: v for k, v in figures.items() if k != "unused_requirements"}  # a registry tag: small
    checks = [Check("load", True, detail), *filter(None, [memory_check(result)])]
    return GateResult(GATE, checks, summary, figures, seconds=time.monotonic() - started)
