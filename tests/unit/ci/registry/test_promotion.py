"""ci/registry/promotion.py and audit.py: the promotion history, and promote/rollback/audit_log
against an in-memory fake of `MlflowApi`."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ci.clients.mlflow_api import NotFound
from ci.errors import CheckFailed
from ci.registry.audit import AuditEntry, audit_log, production_history
from ci.registry.promotion import promote, rollback

# -- promotion history -------------------------------------------------------------------------

def entry(action, to, frm=None, target="@production", time="2024-01-01T00:00:00+00:00") -> AuditEntry:
    return AuditEntry(action=action, target=target, from_version=frm, to_version=to, time=time, user="u")


@pytest.mark.parametrize(("entries", "history"), [
    pytest.param([], [], id="nothing"),
    pytest.param([entry("promote", "1")], ["1"], id="first-promotion"),
    pytest.param([entry("promote", "2", "1")], ["1", "2"], id="first-seen-with-a-predecessor"),
    pytest.param([entry("promote", "1"), entry("promote", "2", "1"), entry("promote", "3", "2")], ["1", "2", "3"],
                 id="three-promotions"),
    pytest.param([entry("promote", "1"), entry("promote", "2", "1"), entry("rollback", "1", "2")], ["1"],
                 id="rollback-pops"),
    pytest.param([entry("promote", "1"), entry("promote", "2", "1"), entry("promote", "3", "2"),
                  entry("rollback", "2", "3"), entry("rollback", "1", "2")], ["1"], id="two-rollbacks"),
    pytest.param([entry("promote", "1"), entry("promote", "9", target="Production"), entry("promote", "2", "1")],
                 ["1", "2"], id="other-target-ignored"),
    pytest.param([entry("rollback", "1", "2")], [], id="rollback-of-nothing"),
])
def test_production_history(entries, history):
    assert production_history(entries, "@production") == history


# -- against a fake registry -------------------------------------------------------------------

class FakeApi:
    """The part of `MlflowApi` promote/rollback/audit_log use, in memory."""

    safe_url = "http://mlflow"

    def __init__(self, versions: dict[str, dict], aliases: dict[str, str] | None = None):
        self.versions_ = {v: SimpleNamespace(version=v, status=f.get("status", "READY"), tags=dict(f.get("tags", {})))
                          for v, f in versions.items()}
        self.model = SimpleNamespace(aliases=dict(aliases or {}), tags={})
        self.moves: list[tuple] = []

    def registered_model(self, name):
        return self.model

    def model_version(self, name, version):
        if version not in self.versions_:
            raise NotFound("no such version")
        return self.versions_[version]

    def latest_in_stage(self, name, stage):
        return []

    def set_alias(self, name, alias, version):
        self.moves.append((alias, version))
        self.model.aliases[alias] = version

    def set_version_tag(self, name, version, key, value):
        self.versions_[version].tags[key] = value

    def set_model_tag(self, name, key, value):
        self.model.tags[key] = value


GATES_PASSED = {f"pyfunc_deploy.gate.{g}": "passed" for g in ("load", "signature", "latency")}


@pytest.fixture(autouse=True)
def gitlab_user(monkeypatch):
    for name in ("GITLAB_USER_NAME", "CI_PIPELINE_URL", "CI_JOB_URL", "CI_COMMIT_SHA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITLAB_USER_LOGIN", "alice")


def test_promote_moves_the_alias_and_writes_one_audit_entry_in_two_places():
    api = FakeApi({"1": {"tags": GATES_PASSED}, "2": {"tags": GATES_PASSED}}, {"production": "1"})
    result = promote("m", "2", api=api)
    assert (result.from_version, result.to_version, result.changed, result.target) == ("1", "2", True, "@production")
    assert api.moves == [("production", "2")]
    (key,) = [k for k in api.model.tags if k.startswith("pyfunc_deploy.audit.")]
    written = json.loads(api.model.tags[key])
    assert api.versions_["2"].tags[key] == api.model.tags[key]
    assert {k: written[k] for k in ("action", "target", "from_version", "to_version", "user", "forced")} == {
        "action": "promote", "target": "@production", "from_version": "1", "to_version": "2", "user": "alice",
        "forced": False}


def test_promote_to_the_current_version_changes_nothing():
    api = FakeApi({"1": {"tags": GATES_PASSED}}, {"production": "1"})
    result = promote("m", "1", api=api)
    assert (result.changed, result.audit, api.moves) == (False, None, [])


@pytest.mark.parametrize(("tags", "status", "message"), [
    pytest.param({"pyfunc_deploy.gate.load": "passed", "pyfunc_deploy.gate.signature": "failed"}, "READY",
                 "gates not passed: signature=failed, latency=missing", id="gates"),
    pytest.param(GATES_PASSED, "PENDING_REGISTRATION", "is PENDING_REGISTRATION, not READY", id="not-ready"),
])
def test_promote_refuses(tags, status, message):
    api = FakeApi({"2": {"tags": tags, "status": status}})
    with pytest.raises(CheckFailed, match=message):
        promote("m", "2", api=api)
    assert api.moves == []


def test_forced_promotion_is_recorded_as_forced():
    api = FakeApi({"2": {"tags": {}}})
    assert promote("m", "2", force=True, api=api).audit.forced is True


def test_rollback_returns_to_the_previous_promotion_and_audit_log_reads_it_back():
    api = FakeApi({v: {"tags": GATES_PASSED} for v in ("1", "2", "3")}, {})
    for version in ("1", "2", "3"):
        promote("m", version, api=api)
    result = rollback("m", api=api)
    assert (result.from_version, result.to_version) == ("3", "2")
    assert api.model.aliases["production"] == "2"
    assert [(e.action, e.from_version, e.to_version) for e in audit_log("m", api=api)] == [
        ("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3"), ("rollback", "3", "2")]
    assert [e.action for e in audit_log("m", "2", api=api)] == ["promote", "rollback"]


@pytest.mark.parametrize(("promoted", "alias", "message"), [
    pytest.param(["1"], "1", "version 1 is the first one promoted", id="first-promotion"),
    pytest.param(["1", "2"], "1", "it points to 1, but the audit entries say 2", id="moved-outside"),
    pytest.param([], None, "it points to nothing, but the audit entries say nothing was promoted", id="nothing"),
])
def test_rollback_refuses(promoted, alias, message):
    api = FakeApi({v: {"tags": GATES_PASSED} for v in ("1", "2")})
    for version in promoted:
        promote("m", version, api=api)
    if alias:
        api.model.aliases["production"] = alias
    with pytest.raises(CheckFailed, match=message):
        rollback("m", api=api)


def test_audit_log_skips_unreadable_entries_and_unknown_fields():
    api = FakeApi({})
    good = {"action": "promote", "target": "@production", "from_version": None, "to_version": "1",
            "time": "2024-01-02T00:00:00+00:00", "user": "bob", "added_later": "ignored"}
    older = {**good, "to_version": "0", "time": "2024-01-01T00:00:00+00:00"}
    api.model.tags = {"pyfunc_deploy.audit.b": json.dumps(good), "pyfunc_deploy.audit.a": json.dumps(older),
                      "pyfunc_deploy.audit.c": "not json", "pyfunc_deploy.audit.d": json.dumps({"action": "x"}),
                      "other": json.dumps(good)}
    assert [(e.to_version, e.user) for e in audit_log("m", api=api)] == [("0", "bob"), ("1", "bob")]
