"""ci/deploy/lock.py: the Lease as a lock, against a fake Kube holding one Lease (no cluster)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ci.deploy import lock as deploy_lock
from ci.deploy.lock import acquire, free_in, release, renew
from ci.errors import CheckFailed

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeKube:
    namespace = "ns"

    def __init__(self, lease=None, conflicts=0):
        self.stored, self.conflicts, self.writes = lease, conflicts, []

    def lease(self, name):
        return self.stored

    def write_lease(self, name, body, create):
        self.writes.append((create, body))
        if self.conflicts:
            self.conflicts -= 1
            return None
        self.stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(len(self.writes))}}
        return self.stored


def held_by(holder, renewed_ago, duration=30):
    return {"metadata": {"name": "web", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": stamp(renewed_ago),
                     "leaseTransitions": 2}}


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(deploy_lock, "_now", lambda: NOW)
    monkeypatch.setattr(deploy_lock, "POLL", 0.01)


@pytest.mark.parametrize(("lease", "expected"), [
    ({"spec": {}}, 0.0),
    ({"spec": {"holderIdentity": "", "renewTime": stamp(1)}}, 0.0),
    (held_by("job-a", 10), 20.0),
    (held_by("job-a", 45), -15.0),
])
def test_free_in(lease, expected):
    assert free_in(lease, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(("lease", "conflicts", "transitions"), [
    pytest.param(None, 0, 0, id="no-lease-yet"),
    pytest.param(None, 1, 3, id="created-by-another-first-then-expired"),
    pytest.param(held_by("job-a", 31), 0, 3, id="expired-holder-taken-over"),
    pytest.param(held_by("", 1), 0, 2, id="released"),
])
def test_acquire_takes_a_free_lease(lease, conflicts, transitions):
    kube = FakeKube(lease, conflicts)
    if lease is None and conflicts:  # the creator won; its lease has since expired
        kube.write_lease = _then_expired(kube)
    held = acquire(kube, "web", "job-b #1", timeout=1)
    assert held.holder == "job-b #1" and kube.stored["spec"]["holderIdentity"] == "job-b #1"
    assert kube.stored["spec"]["leaseDurationSeconds"] == deploy_lock.LEASE_SECONDS
    assert kube.stored["spec"]["leaseTransitions"] == transitions


def _then_expired(kube):
    original = FakeKube.write_lease

    def write(name, body, create):
        if create and not kube.writes:
            kube.writes.append((create, body))
            kube.stored = held_by("job-a", 99)
            return None
        return original(kube, name, body, create)
    return write


def test_acquire_refuses_after_the_timeout_naming_the_holder():
    kube = FakeKube(held_by("https://gitlab/p/-/jobs/7 #ab12cd", 5))
    with pytest.raises(CheckFailed, match=r"deployment web in ns is being deployed by https://gitlab/p/-/jobs/7 "
                                          r"#ab12cd \(Lease web, expires in 25s unless renewed\): gave up after "
                                          r"waiting 0s \(--lock-timeout / DEPLOY_LOCK_TIMEOUT\)"):
        acquire(kube, "web", "job-b #1", timeout=0)
    assert kube.writes == []


def test_acquire_waits_for_the_holder_and_says_for_whom(monkeypatch):
    kube = FakeKube(held_by("job-a #1", 5))
    reads = iter([held_by("job-a #1", 5), held_by("job-a #1", 5), held_by("", 1)])
    monkeypatch.setattr(kube, "lease", lambda name: next(reads))
    held = acquire(kube, "web", "job-b #2", timeout=5)
    assert held.waited_for == "job-a #1" and kube.stored["spec"]["holderIdentity"] == "job-b #2"


def test_renew_and_release_only_touch_our_own_lease():
    kube = FakeKube(held_by("job-a #1", 5))
    held = deploy_lock.Held("web", "job-b #2")
    assert renew(kube, held) is False
    release(kube, held)
    assert kube.writes == []
    kube = FakeKube(held_by("job-b #2", 5))
    assert renew(kube, held) is True and kube.stored["spec"]["renewTime"] == stamp(0)
    release(kube, held)
    assert "holderIdentity" not in kube.stored["spec"] and kube.stored["spec"]["leaseTransitions"] == 2


def test_identity_names_the_job_and_is_unique(monkeypatch):
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab/p/-/jobs/9")
    monkeypatch.setenv("CI_PIPELINE_URL", "https://gitlab/p/-/pipelines/3")
    first, second = deploy_lock.identity(), deploy_lock.identity()
    assert first.startswith("https://gitlab/p/-/jobs/9 pipeline https://gitlab/p/-/pipelines/3 #")
    assert first != second
