"""A model's own project that only includes the component, run end to end by gitlab-ci-local on the
local stack: another model name, namespaces, stage names and job prefix, all given as inputs.

The component comes "from another project on the same GitLab": this repository's working tree,
tagged with its version and served over git's smart HTTP on 127.0.0.1 (devstack/git_server.py);
gitlab-ci-local clones it at that tag, as it does any remote component. The model project holds
nothing but its `.gitlab-ci.yml`. The jobs find the `ci` package the way the pipeline image gives
it to them (PYTHONPATH=/opt/pyfunc-deploy there; the component's checkout here, since the shell
executor ignores `image:`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml

from devstack.git_server import GitServer
from devstack.gitlab_ci import REPO
from devstack.pipeline_box import SERVICE, PipelineRun, checkout, run_pipeline
from devstack.stack import QUICK_GATES

MODEL = "fraud-e2e"
PREFIX = "fraud-"
NAMESPACES = {"staging": "fraud-pre", "production": "fraud-live"}
STAGES = {"preflight": "verify", "build": "package", "gate": "check", "staging": "pre-prod", "production": "prod",
          "promote": "hand-over", "loadtest": "nightly"}
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PUSH_JOBS = {PREFIX + job for job in ("preflight", "resolve", "build", "gate:load", "gate:signature", "gate:latency",
                                      "deploy:staging", "deploy:production")}
# What the inputs set: none of it may reach the jobs as a variable, or the test would not test the inputs.
BY_INPUTS = {"MODEL_NAME", "IMAGE_REPOSITORY", "KUBE_NAMESPACE_STAGING", "KUBE_NAMESPACE_PRODUCTION", *QUICK_GATES}


@pytest.fixture(scope="module")
def stack(make_stack):
    stack = make_stack(namespaces=NAMESPACES)
    yield stack
    stack.delete_namespaces()


@pytest.fixture(scope="module")
def component_source(tmp_path_factory) -> Path:
    return checkout(tmp_path_factory.mktemp("component") / "pyfunc-deploy")


@pytest.fixture(scope="module")
def git_server(tmp_path_factory, component_source):
    server = GitServer(tmp_path_factory.mktemp("git")).start()
    server.publish("ml-platform/pyfunc-deploy", component_source, VERSION)
    yield server
    server.stop()


def _number(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _project(root: Path, git_server, components: tuple[str, ...], inputs: dict) -> Path:
    """A model project whose `.gitlab-ci.yml` only includes `components` (each with the inputs it declares)."""
    from devstack.component import component

    (root / ".gitlab-ci.yml").write_text(yaml.safe_dump({
        "stages": list(STAGES.values()),
        "include": [{"component": f"$CI_SERVER_FQDN/ml-platform/pyfunc-deploy/{name}@{VERSION}",
                     "inputs": {k: v for k, v in inputs.items() if k in component(name).inputs}}
                    for name in components]}, sort_keys=False))
    for argv in (["init", "-q", "-b", "main"],
                 ["remote", "add", "origin", git_server.url(f"ml-platform/{root.name}")], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "include the component"]):
        subprocess.run(["git", *argv], cwd=root, check=True)
    return root


def _fetch_one_at_a_time(project: Path, variables: dict[str, str]) -> None:
    """gitlab-ci-local 4.73 fetches two components of one project@version at the same time into one
    directory (`cp -r .../templates`), and the second copy can fail with "File exists". It skips a
    component it has already fetched, so each is fetched first by a listing that includes it alone."""
    document = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    for include in document["include"]:
        alone = project / ".gitlab-ci-fetch.yml"
        alone.write_text(yaml.safe_dump({**document, "include": [include]}, sort_keys=False))
        listed = run_pipeline(project, variables, "--file", alone.name, "--list")
        assert listed.returncode == 0, _tail(listed)
        alone.unlink()


@pytest.fixture(scope="module")
def inputs(stack) -> dict:
    return {"model_name": MODEL, "job_prefix": PREFIX, "staging_namespace": NAMESPACES["staging"],
            "production_namespace": NAMESPACES["production"],
            "image_repository": f"{stack.registry.address}/fraud/{MODEL}",
            **{f"stage_{key}": name for key, name in STAGES.items()},
            **{name.lower(): _number(value) for name, value in QUICK_GATES.items()}}


@pytest.fixture(scope="module")
def model_project(tmp_path_factory, git_server, inputs) -> Path:
    return _project(tmp_path_factory.mktemp("fraud-model"), git_server, ("pipeline",), inputs)


@pytest.fixture(scope="module")
def variables(stack, component_source) -> dict[str, str]:
    # The venv's packages on PYTHONPATH too: run alone (not after the rest of the suite), a job of the
    # whole pipeline was seen starting pyenv's python of the same version instead of the venv's.
    return {**{k: v for k, v in stack.variables(MODEL).items() if k not in BY_INPUTS},
            "PYTHONPATH": os.pathsep.join([str(component_source), sysconfig.get_paths()["purelib"]])}


@pytest.fixture(scope="module")
def version(stack):
    return stack.register_model(MODEL, alias=None)


@pytest.fixture(scope="module")
def push_run(model_project, variables, version) -> PipelineRun:
    return run_pipeline(model_project, {**variables, "MODEL_SELECTOR": version.version})


def _tail(run: PipelineRun) -> str:
    return run.output[-5000:]


def test_the_model_project_holds_only_its_pipeline_file(model_project):
    tracked = subprocess.run(["git", "ls-files"], cwd=model_project, capture_output=True, text=True).stdout.split()
    assert tracked == [".gitlab-ci.yml"]


def test_push_pipeline_of_the_including_project_puts_its_model_live(stack, push_run, version):
    assert push_run.returncode == 0, _tail(push_run)
    assert set(push_run.passed) == PUSH_JOBS, _tail(push_run)
    assert f"downloaded ml-platform/pyfunc-deploy {VERSION}" in push_run.output, _tail(push_run)
    for environment in NAMESPACES:
        live = stack.live_version(environment)
        assert live["model_name"] == MODEL and str(live["model_version"]) == version.version
        assert live["image_tag"].startswith(f"{MODEL}-v{version.version}-")


def test_manual_promote_of_the_including_project(stack, model_project, variables, push_run, version):
    from mlflow import MlflowClient

    assert push_run.returncode == 0, _tail(push_run)
    run = run_pipeline(model_project, {**variables, "MODEL_SELECTOR": version.version}, PREFIX + "promote")
    assert run.returncode == 0 and run.passed == [PREFIX + "promote"], _tail(run)
    assert MlflowClient(stack.mlflow.url).get_model_version_by_alias(MODEL, "production").version == version.version


def test_scheduled_load_test_of_the_including_project(stack, model_project, variables, push_run, version):
    assert push_run.returncode == 0, _tail(push_run)
    run = run_pipeline(model_project, variables, source="schedule")
    assert run.returncode == 0 and run.passed == [PREFIX + "loadtest"], _tail(run)
    summary = json.loads((run.reports(PREFIX + "loadtest") / "loadtest.json").read_text())
    assert f"/namespaces/{NAMESPACES['production']}/services/{SERVICE}:http/proxy" in summary["url"]
    assert summary["model"] == f"{MODEL} version {version.version}"


def test_two_parts_combined_hand_the_image_on_through_dotenv(stack, tmp_path_factory, git_server, inputs, variables,
                                                             push_run, version):
    """build-gates + deploy, included as two components, run up to the staging deploy and its needs:
    the deploy job finds the build job through its optional needs and deploys the image its image.env
    names (the deploy part's image_ref input is left empty, so nothing else could give it). After
    push_run the build only retags; production is left out: the same job template as staging, and
    its 3-replica surge rollout costs minutes on the shared 2-core cluster. The project deploys with
    DEPLOY_STRATEGY=canary, so staging, live since push_run, gets a canary of the image (one 50% step,
    judged on both sides' /metrics) before it is promoted."""
    assert push_run.returncode == 0, _tail(push_run)
    project = _project(tmp_path_factory.mktemp("fraud-parts"), git_server, ("build-gates", "deploy"), inputs)
    _fetch_one_at_a_time(project, variables)
    canary = {"DEPLOY_STRATEGY": "canary", "CANARY_STEPS": "50", "CANARY_INTERVAL": "2", "CANARY_MIN_REQUESTS": "20"}
    run = run_pipeline(project, {**variables, **canary, "MODEL_SELECTOR": version.version},
                       PREFIX + "deploy:staging", "--needs")
    assert run.returncode == 0 and set(run.passed) == PUSH_JOBS - {PREFIX + "deploy:production"}, _tail(run)
    built = json.loads((run.reports(PREFIX + "build") / "image.json").read_text())
    deployed = json.loads((run.reports(PREFIX + "deploy:staging") / "canary.json").read_text())
    assert deployed["image"] == built["reference"]
    assert deployed["outcome"] == "promoted" and deployed["steps"][0]["percent"] == 50, deployed
    live = stack.live_version("staging")
    assert live["model_name"] == MODEL and str(live["model_version"]) == version.version
