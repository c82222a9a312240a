"""`.gitlab-ci.yml` is valid for GitLab and each kind of pipeline holds exactly the expected jobs."""
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.gitlab_ci import (
    GITLAB_CI_LOCAL,
    REPO,
    evaluate,
    list_jobs,
    load_pipeline,
    workflow_creates_pipeline,
)

BUILD_AND_GATES = {"preflight", "resolve", "build", "gate:load", "gate:signature", "gate:latency"}
DEPLOYS = {"deploy:staging", "deploy:production"}
MANUAL = {"promote", "rollback"}

PIPELINES = {
    "push to the default branch": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"},
                                   BUILD_AND_GATES | DEPLOYS, MANUAL),
    "web run": ({"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main"}, BUILD_AND_GATES | DEPLOYS, MANUAL),
    "api trigger (registry webhook)": ({"CI_PIPELINE_SOURCE": "trigger", "CI_COMMIT_BRANCH": "main"},
                                       BUILD_AND_GATES | DEPLOYS, MANUAL),
    "push with the capacity plan": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                                     "LATENCY_CAPACITY": "true", "CAPACITY_TARGET_RPS": "200"},
                                    BUILD_AND_GATES | DEPLOYS | {"capacity"}, MANUAL),
    "merge request": ({"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_BRANCH": "",
                       "CI_MERGE_REQUEST_IID": "7"}, BUILD_AND_GATES, set()),
    "schedule": ({"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}, {"loadtest"}, set()),
    "push with DEPLOY_STRATEGY=canary": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                                          "DEPLOY_STRATEGY": "canary"}, BUILD_AND_GATES | DEPLOYS,
                                         MANUAL | {f"canary:{d}:{e}" for d in ("promote-now", "abort")
                                                   for e in ("staging", "production")}),
}


def test_schema_accepts_the_pipeline():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.gitlab-ci", "--data-transform",
                             "gitlab-ci", str(REPO / ".gitlab-ci.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_ci_local_is_installed():
    assert GITLAB_CI_LOCAL.exists(), "run `make test`: it installs gitlab-ci-local"


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_pipeline_has_exactly_the_expected_jobs(pipeline):
    variables, automatic, manual = PIPELINES[pipeline]
    jobs = list_jobs({"CI_DEFAULT_BRANCH": "main", **variables})
    assert {name for name, when in jobs.items() if when == "on_success"} == automatic
    assert {name for name, when in jobs.items() if when == "manual"} == manual


@pytest.mark.parametrize(("variables", "expected"), [
    ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}, True),
    ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature/x"}, False),
    ({"CI_PIPELINE_SOURCE": "merge_request_event"}, True),
    ({"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "feature/x"}, True),
    ({"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}, True),
    ({"CI_PIPELINE_SOURCE": "api", "CI_COMMIT_BRANCH": "main"}, True),
    ({"CI_PIPELINE_SOURCE": "trigger", "CI_COMMIT_BRANCH": "main"}, True),
    ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1"}, False),
])
def test_workflow_rules(variables, expected):
    assert workflow_creates_pipeline({"CI_DEFAULT_BRANCH": "main", **variables}) is expected


def test_feature_branch_push_creates_no_pipeline_even_though_jobs_would_match():
    """gitlab-ci-local ignores workflow:rules: this is why the workflow is evaluated separately."""
    variables = {"CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature/x"}
    assert not workflow_creates_pipeline(variables)
    assert {n for n, w in list_jobs(variables).items() if w == "on_success"} >= BUILD_AND_GATES


def test_evaluator_rejects_what_it_does_not_understand():
    with pytest.raises(ValueError, match="not supported"):
        evaluate('($A == "x")', {})


def test_style_every_job_extends_the_base_and_runs_only_ci_commands():
    pipeline = load_pipeline()
    header = (REPO / ".gitlab-ci.yml").read_text().split("\nvariables:")[0]
    jobs = {name: job for name, job in pipeline.items()
            if isinstance(job, dict) and "script" in job or isinstance(job, dict) and "extends" in job}
    for name, job in jobs.items():
        if name.startswith("."):
            continue
        assert job.get("extends") in (".python-job", ".container-job", ".deploy", ".canary-decision"), name
    assert pipeline[".container-job"]["extends"] == ".python-job"
    for name, job in pipeline.items():
        for line in (job.get("script", []) if isinstance(job, dict) else []):
            assert line.startswith("python -m ci "), f"{name}: {line}"
    for variable in pipeline["variables"]:
        if variable not in {"CI_REPORTS_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}:
            assert variable in header, f"{variable} is not documented in the header comment"
    for name in DEPLOYS:
        assert pipeline[name]["environment"]["name"] and pipeline[name]["resource_group"]


GUARDS = {  # job -> (tools it needs, the apt-get install line's tail)
    ".container-job": (("buildah", "podman", "skopeo"), "buildah podman skopeo fuse-overlayfs"),
    "loadtest": (("kubectl",), "kubernetes-client"),
    "capacity": (("kubectl",), "kubernetes-client"),
}


@pytest.mark.parametrize("job", sorted(GUARDS))
@pytest.mark.parametrize("all_present", [True, False])
def test_jobs_add_their_tools_only_when_the_image_lacks_them(tmp_path, job, all_present):
    """The guard line that starts the job's before_script, run by bash with stand-ins for the tools
    and apt-get."""
    pipeline = load_pipeline()
    guard = pipeline[job]["before_script"][0]
    tools, packages = GUARDS[job]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls"
    for name in (*(tools if all_present else tools[:-1]), "apt-get"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
        stub.chmod(0o755)
    env = {"PATH": str(bin_dir), "CONTAINER_TOOLS_PACKAGES": pipeline["variables"]["CONTAINER_TOOLS_PACKAGES"]}
    result = subprocess.run(["/bin/bash", "-c", guard], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    recorded = calls.read_text().splitlines() if calls.exists() else []
    if all_present:
        assert recorded == []
    else:
        assert recorded[0] == "update -qq"
        assert recorded[1].endswith(packages)
