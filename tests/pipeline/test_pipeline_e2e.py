"""The real `.gitlab-ci.yml`, executed by gitlab-ci-local on the local MLflow, registry and cluster.

One stack (the session fixtures) and one project checkout for the whole module; the tests run in
order and build on each other, as pipelines do: a good version goes live, the manual promote moves
the alias to it, a broken version stops at its gate with the good one still live, and the schedule
load-tests what is live.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from devstack.pipeline_box import SERVICE, PipelineRun, checkout, run_pipeline
from devstack.stack import NAMESPACES

MODEL = "credit-risk-e2e"
PUSH_JOBS = {"pipeline-image", "preflight", "resolve", "build", "gate:load", "gate:signature", "gate:latency",
             "deploy:staging", "deploy:production"}


@pytest.fixture(scope="module")
def stack(make_stack):
    stack = make_stack()
    yield stack
    stack.delete_namespaces()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return checkout(tmp_path_factory.mktemp("pipeline") / "project")


@pytest.fixture(scope="module")
def good_version(stack):
    """A candidate version with no alias yet: the pipeline names it (as a registry webhook would)."""
    return stack.register_model(MODEL, alias=None)


@pytest.fixture(scope="module")
def first_run(stack, project, good_version) -> PipelineRun:
    """DEPLOY_STRATEGY=canary, as a project sets it once: its first deploys have nothing to compare with."""
    return run_pipeline(project, {**stack.variables(MODEL), "MODEL_SELECTOR": good_version.version,
                                  "DEPLOY_STRATEGY": "canary"})


def _tail(run: PipelineRun) -> str:
    return run.output[-5000:]


def test_push_pipeline_puts_the_new_version_live(stack, first_run, good_version):
    assert first_run.returncode == 0, _tail(first_run)
    assert set(first_run.passed) == PUSH_JOBS, _tail(first_run)
    for environment in ("staging", "production"):
        live = stack.live_version(environment)
        assert str(live["model_version"]) == good_version.version
        assert live["image_digest"].startswith("sha256:") and f"-v{good_version.version}-" in live["image_tag"]
    assert (first_run.reports("gate:latency") / "latency-junit.xml").is_file()
    assert first_run.output.count("nothing to compare a canary with, this first deploy rolls out") == 2


def test_manual_promote_moves_the_alias(stack, project, first_run, good_version):
    from mlflow import MlflowClient

    assert first_run.returncode == 0, _tail(first_run)
    run = run_pipeline(project, {**stack.variables(MODEL), "MODEL_SELECTOR": good_version.version}, "promote")
    assert run.returncode == 0, _tail(run)
    assert run.passed == ["promote"], _tail(run)
    holder = MlflowClient(stack.mlflow.url).get_model_version_by_alias(MODEL, "production")
    assert holder.version == good_version.version


def test_broken_version_stops_at_the_load_gate_and_the_old_one_stays_live(stack, project, first_run,
                                                                           good_version):
    assert first_run.returncode == 0, _tail(first_run)
    broken = register_broken_version(stack, good_version)
    run = run_pipeline(project, {**stack.variables(MODEL), "MODEL_SELECTOR": broken})
    assert run.returncode != 0, _tail(run)
    # gate:latency needs gate:load; gate:signature runs the image too (it checks batching on it), so it
    # fails on the same image, pointing at gate:load for the cause
    assert sorted(run.failed) == ["gate:load", "gate:signature"], _tail(run)
    assert not {"deploy:staging", "deploy:production"} & set(run.passed), _tail(run)
    for environment in ("staging", "production"):
        assert str(stack.live_version(environment)["model_version"]) == good_version.version


def test_scheduled_pipeline_runs_only_the_load_test(stack, project, first_run, good_version):
    """As a real schedule: nobody port-forwards for the job and there is no LOADTEST_URL; the job reaches
    the production Service by itself, through the API server's proxy (its KUBECONFIG, kubectl on PATH)."""
    assert first_run.returncode == 0, _tail(first_run)
    variables = stack.variables(MODEL)
    assert "KUBECONFIG" in variables and "LOADTEST_URL" not in variables
    run = run_pipeline(project, variables, source="schedule")
    assert run.returncode == 0, _tail(run)
    assert run.passed == ["loadtest"], _tail(run)
    assert (run.reports("loadtest") / "loadtest-junit.xml").is_file()
    summary = json.loads((run.reports("loadtest") / "loadtest.json").read_text())
    assert summary["url"].endswith(f"/api/v1/namespaces/{NAMESPACES['production']}/services/{SERVICE}:http/proxy")
    assert summary["model"] == f"{MODEL} version {good_version.version}"  # what the live /version named


def register_broken_version(stack, source) -> str:
    """A copy of `source` without its estimator file: same signature and requirements, so only
    loading it (`load_context`) fails — the load gate's job to catch."""
    import mlflow

    mlflow.set_tracking_uri(stack.mlflow.url)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{source.version}", dst_path=tmp))
        estimators = list(model_dir.rglob("estimator.joblib"))
        assert estimators, f"no estimator.joblib in {sorted(p.name for p in model_dir.rglob('*'))}"
        for path in estimators:
            path.unlink()
        mlflow.set_experiment("credit-risk-e2e")
        with mlflow.start_run(run_name="broken-load-context") as run:
            mlflow.log_artifacts(str(model_dir), "model")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    return version.version
