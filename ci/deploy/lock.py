"""The deploy lock: a Lease (coordination.k8s.io/v1) named after the Deployment, in its namespace.

One deploy of a Deployment at a time, across jobs, retries, projects and pipelines (GitLab's
`resource_group` covers one project only). The holder is the job's identity; the Lease expires
`LEASE_SECONDS` after its last renewal, so a killed job blocks the next one for at most that long.
A second deploy waits up to its lock timeout, then refuses (exit 1) naming the holder.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ci import job
from ci.errors import CheckFailed

log = logging.getLogger("ci.deploy")
LEASE_SECONDS = 30
RENEW_EVERY = 10.0
POLL = 1.0


def identity() -> str:
    """Who holds the lock: the GitLab job (URL, else id) and pipeline, else host and process; plus a
    random suffix, so two runs of one job never mistake each other's lock for their own."""
    who = job.job_and_pipeline()
    return f"{who or f'{socket.gethostname()} pid {os.getpid()}'} #{uuid.uuid4().hex[:6]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def free_in(lease: dict, now: datetime) -> float:
    """Seconds until the Lease expires (<= 0: free). An unheld Lease is free."""
    spec = lease.get("spec") or {}
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return 0.0
    return renewed.timestamp() + spec.get("leaseDurationSeconds", LEASE_SECONDS) - now.timestamp()


@dataclass
class Held:
    name: str
    holder: str
    waited: float = 0.0
    waited_for: str = ""  # the holder this deploy waited for ("" when it did not wait)

    def record(self) -> dict:
        """What a deploy's report says about the Lease it held."""
        return {"lease": self.name, "holder": self.holder, "waited_seconds": self.waited,
                "waited_for": self.waited_for or None}


def _spec(holder: str, now: datetime, lease: dict | None) -> dict:
    spec = (lease or {}).get("spec") or {}
    transitions = spec.get("leaseTransitions", 0) + (1 if spec.get("holderIdentity") not in (None, "", holder) else 0)
    return {"holderIdentity": holder, "leaseDurationSeconds": LEASE_SECONDS, "acquireTime": _stamp(now),
            "renewTime": _stamp(now), "leaseTransitions": transitions}


def acquire(kube, name: str, holder: str, timeout: float) -> Held:
    """Take the Lease, waiting up to `timeout` seconds for its holder; CheckFailed naming it after that."""
    started = time.monotonic()
    waited_for, announced = "", ""
    while True:
        lease = kube.lease(name)
        now = _now()
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "pyfunc-deploy"}},
                    "spec": _spec(holder, now, None)}
            if kube.write_lease(name, body, create=True) is not None:
                return Held(name, holder, round(time.monotonic() - started, 2), waited_for)
            continue
        remaining = free_in(lease, now)
        current = (lease.get("spec") or {}).get("holderIdentity") or ""
        if remaining <= 0 or current == holder:
            body = {**lease, "spec": _spec(holder, now, lease)}
            if kube.write_lease(name, body, create=False) is not None:
                return Held(name, holder, round(time.monotonic() - started, 2), waited_for)
            continue
        waited = time.monotonic() - started
        if waited >= timeout:
            raise CheckFailed(
                f"deployment {name} in {kube.namespace} is being deployed by {current} (Lease {name}, expires "
                f"in {remaining:.0f}s unless renewed): gave up after waiting {waited:.0f}s (--lock-timeout / "
                "DEPLOY_LOCK_TIMEOUT). Nothing was changed; re-run this job when that deploy has finished")
        if current != announced:
            log.warning("deploy lock: Lease %s/%s is held by %s: waiting up to %.0fs for it", kube.namespace, name,
                        current, timeout)
            announced = waited_for = current
        time.sleep(min(POLL, max(0.05, timeout - waited)))


def renew(kube, held: Held) -> bool:
    """Extend the Lease if this deploy still holds it (False: it was taken over after expiring)."""
    lease = kube.lease(held.name)
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != held.holder:
        return False
    spec = {**lease["spec"], "renewTime": _stamp(_now())}
    return kube.write_lease(held.name, {**lease, "spec": spec}, create=False) is not None


def release(kube, held: Held) -> None:
    """Clear the holder (the Lease object stays, with its transition count)."""
    lease = kube.lease(held.name)
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != held.holder:
        return
    spec = {k: v for k, v in lease["spec"].items() if k not in ("holderIdentity", "acquireTime", "renewTime")}
    kube.write_lease(held.name, {**lease, "spec": spec}, create=False)


@contextlib.contextmanager
def locked(kube, name: str, timeout: float, holder: str | None = None) -> Iterator[Held]:
    """Hold the Lease for the block, renewing it every RENEW_EVERY seconds in a thread."""
    held = acquire(kube, name, holder or identity(), timeout)
    if held.waited_for:
        log.info("deploy lock: acquired after waiting %.1fs for %s", held.waited, held.waited_for)
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(RENEW_EVERY):
            try:
                if not renew(kube, held):
                    log.error("deploy lock: Lease %s was taken over by another deploy", name)
                    return
            except Exception as exc:  # noqa: BLE001 - the next renewal retries; the rollout goes on
                log.warning("deploy lock: renewing Lease %s failed: %s", name, str(exc)[:200])

    thread = threading.Thread(target=keep, name="deploy-lock", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            release(kube, held)
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            log.warning("deploy lock: releasing Lease %s failed (it expires in %ds): %s", name, LEASE_SECONDS,
                        str(exc)[:200])
