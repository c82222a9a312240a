"""`python -m ci resolve` against real MLflow servers (sqlite and PostgreSQL backends)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed
from ci.outputs import read_dotenv
from ci.registry.resolution import resolve
from tests.ci.registry_helpers import COMMIT_SHA, ci_env, run_ci, set_version_status


def test_default_selector_resolves_the_production_alias_and_writes_both_files(logged_model, out_dir):
    name = logged_model.register(versions=3)
    client = logged_model.client()
    client.set_registered_model_alias(name, "production", "2")
    client.set_model_version_tag(name, "2", "owner", "risk-team")

    result = run_ci("resolve", "--model-name", name, "--output-dir", str(out_dir),
                    env=ci_env(logged_model.server))

    assert result.returncode == 0, result.stderr
    assert "-> version 2 (alias @production)" in result.stdout
    env = read_dotenv(out_dir / "model.env")
    assert env == {"MODEL_NAME": name, "MODEL_VERSION": "2", "MODEL_RUN_ID": logged_model.run_id,
                   "MODEL_SOURCE": logged_model.source, "MODEL_URI": f"models:/{name}/2",
                   "IMAGE_TAG": f"{name}-v2-{COMMIT_SHA[:8]}"}
    model = json.loads((out_dir / "model.json").read_text())
    assert model["tags"] == {"owner": "risk-team"}
    assert model["aliases"] == ["production"]
    assert model["artifact_uri"].startswith("mlflow-artifacts:/")
    assert model["created_at"].startswith("20") and model["creation_timestamp"] > 0
    assert [col["name"] for col in model["signature"]["inputs"]] == ["x", "label"]
    assert model["flavors"] == ["python_function"] and model["mlflow_version"] == "3.17.2"


def test_stage_version_and_other_alias_selectors(logged_model):
    name = logged_model.register(versions=3)
    client = logged_model.client()
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "3", "Staging")
    client.set_registered_model_alias(name, "champion", "2")
    api = MlflowApi(logged_model.server.url)

    assert resolve(name, "Production", api=api).version == "1"
    assert resolve(name, "staging", api=api).resolved_by == "stage Staging"
    assert resolve(name, "@champion", api=api).version == "2"
    assert resolve(name, "3", api=api).model_uri == f"models:/{name}/3"


def test_no_alias_default_falls_back_to_stage_but_explicit_alias_does_not(logged_model, out_dir):
    name = logged_model.register(versions=2)
    logged_model.client().transition_model_version_stage(name, "1", "Production")
    env = ci_env(logged_model.server)

    default = run_ci("resolve", "--model-name", name, "--output-dir", str(out_dir), env=env)
    assert default.returncode == 0, default.stderr
    assert "has no alias @production; using legacy stage Production (version 1)" in default.stderr
    assert read_dotenv(out_dir / "model.env")["MODEL_VERSION"] == "1"

    explicit = run_ci("resolve", "--model-name", name, "--selector", "@production",
                      "--output-dir", str(out_dir), env=env)
    assert explicit.returncode == 1
    assert f"{name!r} has no alias @production (aliases: none)" in explicit.stderr
    assert "python -m ci promote --version N --to @production" in explicit.stderr


def test_lookup_failures_exit_1_saying_which(logged_model, out_dir):
    env = ci_env(logged_model.server)
    empty = f"empty-{time.time_ns()}"
    logged_model.client().create_registered_model(empty)
    gone = logged_model.register(versions=2)
    client = logged_model.client()
    client.set_registered_model_alias(gone, "champion", "2")
    client.delete_model_version(gone, "2")  # MLflow drops the alias with the version it named

    cases = {
        ("unknown-model-xyz", "@production"): "registered model 'unknown-model-xyz' not found on http://127.0.0.1:",
        (empty, "@production"): f"registered model {empty!r} has no versions: register one",
        (empty, "Production"): f"registered model {empty!r} has no versions",
        (gone, "@champion"): f"{gone!r} has no alias @champion (aliases: none)",
        (gone, "Production"): f"no version of {gone!r} is in stage Production",
        (gone, "7"): f"{gone!r} has no version 7",
    }
    for (name, selector), message in cases.items():
        result = run_ci("resolve", "--model-name", name, "--selector", selector, "--output-dir",
                        str(out_dir), env=env)
        assert result.returncode == 1, (name, selector, result.stderr)
        assert message in result.stderr, (name, selector, result.stderr)
        assert not (out_dir / "model.env").exists()


def test_bad_selector_and_missing_model_name_are_usage_errors(logged_model):
    env = ci_env(logged_model.server)
    bad = run_ci("resolve", "--model-name", "m", "--selector", "prod", env=env)
    assert bad.returncode == 2
    assert "model selector 'prod': use an alias (@production)" in bad.stderr
    assert run_ci("resolve", env=env).returncode == 2


def test_a_version_still_registering_is_waited_for(logged_model):
    name = logged_model.register(versions=1)
    logged_model.client().set_registered_model_alias(name, "production", "1")
    set_version_status(logged_model.server, name, "1", "PENDING_REGISTRATION")
    api = MlflowApi(logged_model.server.url)
    assert api.model_version(name, "1").status == "PENDING_REGISTRATION"  # the server reports it

    with pytest.raises(CheckFailed, match="still registering after 1s"):
        resolve(name, "@production", api=api, registration_timeout=1)

    finish = threading.Timer(1.5, set_version_status, (logged_model.server, name, "1", "READY"))
    finish.start()
    started = time.monotonic()
    try:
        model = resolve(name, "@production", api=api, registration_timeout=30)
    finally:
        finish.join()
    assert model.status == "READY" and 1.4 < time.monotonic() - started < 10


def test_a_failed_registration_exits_1(logged_model, out_dir):
    name = logged_model.register(versions=1)
    set_version_status(logged_model.server, name, "1", "FAILED_REGISTRATION")
    result = run_ci("resolve", "--model-name", name, "--selector", "1", "--output-dir", str(out_dir),
                    env=ci_env(logged_model.server))
    assert result.returncode == 1
    assert "version 1 is not usable: status FAILED_REGISTRATION. Register the model again." in result.stderr
