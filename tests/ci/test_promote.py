"""`python -m ci promote | rollback`, gate results and audit entries, on real MLflow servers."""
from __future__ import annotations

import json

import pytest

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed, ConfigError
from ci.registry.audit import AuditEntry, audit_log, production_history
from ci.registry.gate_tags import REQUIRED_GATES, gate_results, record_gate_result
from ci.registry.promotion import promote, rollback
from tests.ci.registry_helpers import ci_env, run_ci, set_version_status

PIPELINE = "https://gitlab.example/group/proj/-/pipelines/42"


def _pass_gates(api: MlflowApi, name: str, version: str, failing: str | None = None) -> None:
    for gate in REQUIRED_GATES:
        record_gate_result(name, version, gate, gate != failing, {"p95_ms": 12.5}, api=api)


def test_gate_results_are_version_tags(logged_model):
    name = logged_model.register()
    api = MlflowApi(logged_model.server.url)
    tags = record_gate_result(name, "1", "latency", False, {"p95_ms": 480.0}, api=api)

    stored = api.model_version(name, "1").tags
    assert tags == {"pyfunc_deploy.gate.latency": "failed",
                    "pyfunc_deploy.gate.latency.summary": '{"p95_ms": 480.0}'}
    assert {k: stored[k] for k in tags} == tags
    assert gate_results(stored) == {"load": "missing", "signature": "missing", "latency": "failed"}
    with pytest.raises(ConfigError, match="unknown gate 'speed'"):
        record_gate_result(name, "1", "speed", True, {}, api=api)


def test_promote_requires_passed_gates_unless_forced(logged_model, out_dir):
    name = logged_model.register(versions=2)
    api = MlflowApi(logged_model.server.url)
    env = ci_env(logged_model.server, GITLAB_USER_LOGIN="alice", CI_PIPELINE_URL=PIPELINE)
    _pass_gates(api, name, "2", failing="latency")
    args = ("promote", "--model-name", name, "--output-dir", str(out_dir))

    refused = run_ci(*args, "--version", "1", env=env)
    assert refused.returncode == 1
    assert "gates not passed: load=missing, signature=missing, latency=missing" in refused.stderr
    refused = run_ci(*args, "--version", "2", env=env)
    assert refused.returncode == 1 and "gates not passed: latency=failed" in refused.stderr
    assert "production" not in api.registered_model(name).aliases

    forced = run_ci(*args, "--version", "2", env={**env, "PROMOTE_SKIP_GATES": "true"})
    assert forced.returncode == 0, forced.stderr
    assert "(none) -> 2 (gates overridden)" in forced.stdout
    [entry] = audit_log(name, api=api)
    assert (entry.forced, entry.gates["latency"], entry.user, entry.pipeline_url) == \
        (True, "failed", "alice", PIPELINE)
    assert json.loads((out_dir / "promote.json").read_text())["to_version"] == "2"


def test_promote_refuses_a_version_that_is_not_ready(logged_model):
    name = logged_model.register()
    api = MlflowApi(logged_model.server.url)
    _pass_gates(api, name, "1")
    set_version_status(logged_model.server, name, "1", "PENDING_REGISTRATION")
    with pytest.raises(CheckFailed, match="is PENDING_REGISTRATION, not READY"):
        promote(name, "1", api=api)


def test_two_promotions_then_rollback_with_audit_entries(logged_model, out_dir):
    name = logged_model.register(versions=2)
    api = MlflowApi(logged_model.server.url)
    for version in ("1", "2"):
        _pass_gates(api, name, version)
    env = ci_env(logged_model.server, GITLAB_USER_LOGIN="alice", GITLAB_USER_NAME="Alice A",
                 CI_PIPELINE_URL=PIPELINE)
    base = ("--model-name", name, "--output-dir", str(out_dir))

    for version in ("1", "2"):
        result = run_ci("promote", *base, "--version", version, env=env)
        assert result.returncode == 0, result.stderr
    assert api.registered_model(name).aliases["production"] == "2"
    again = run_ci("promote", *base, "--version", "2", env=env)
    assert "already points to version 2; nothing to do" in again.stdout

    back = run_ci("rollback", *base, env={**env, "GITLAB_USER_LOGIN": "bob"})
    assert back.returncode == 0, back.stderr
    assert "rolled back from version 2 to 1" in back.stdout
    assert api.registered_model(name).aliases["production"] == "1"

    log = audit_log(name, api=api)
    assert [(e.action, e.from_version, e.to_version, e.user) for e in log] == [
        ("promote", None, "1", "alice"), ("promote", "1", "2", "alice"), ("rollback", "2", "1", "bob")]
    assert all(e.pipeline_url == PIPELINE and e.target == "@production" for e in log)
    assert log[0].user_name == "Alice A" and log[0].gates == dict.fromkeys(REQUIRED_GATES, "passed")
    assert [e.action for e in audit_log(name, "2", api=api)] == ["promote"]
    assert [e.action for e in audit_log(name, "1", api=api)] == ["promote", "rollback"]

    nothing_earlier = run_ci("rollback", *base, env=env)
    assert nothing_earlier.returncode == 1
    assert "version 1 is the first one promoted through pyfunc-deploy" in nothing_earlier.stderr


def test_stage_target_archives_the_old_production_version_and_rolls_back(logged_model):
    name = logged_model.register(versions=2)
    api = MlflowApi(logged_model.server.url)
    promote(name, "1", "Production", force=True, api=api)
    promote(name, "2", "Production", force=True, api=api)
    assert (api.model_version(name, "1").current_stage, api.model_version(name, "2").current_stage) == \
        ("Archived", "Production")

    result = rollback(name, "Production", api=api)
    assert (result.from_version, result.to_version) == ("2", "1")
    assert api.model_version(name, "1").current_stage == "Production"


def test_rollback_without_audit_history_refuses(logged_model, out_dir):
    name = logged_model.register(versions=2)
    logged_model.client().set_registered_model_alias(name, "production", "2")  # set by hand, not audited
    result = run_ci("rollback", "--model-name", name, "--output-dir", str(out_dir),
                    env=ci_env(logged_model.server))
    assert result.returncode == 1
    assert "it points to 2, but the audit entries say nothing was promoted" in result.stderr


def test_production_history_is_a_stack():
    def entry(action, old, new):
        return AuditEntry(action, "@production", old, new, "t", "u")

    entries = [entry("promote", "3", "4"), entry("promote", "4", "5"), entry("rollback", "5", "4"),
               entry("promote", "4", "6")]
    assert production_history(entries, "@production") == ["3", "4", "6"]
    assert production_history(entries, "Production") == []
