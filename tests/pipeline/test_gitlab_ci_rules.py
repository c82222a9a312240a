"""`.gitlab-ci.yml` (the component it includes, with this project's inputs, and its own jobs) is valid
for GitLab and each kind of pipeline holds exactly the expected jobs."""
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
OWN = {"pipeline-image"}  # this project's own job: every pipeline but a schedule

PIPELINES = {
    "push to the default branch": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"},
                                   OWN | BUILD_AND_GATES | DEPLOYS, MANUAL),
    "web run": ({"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main"}, OWN | BUILD_AND_GATES | DEPLOYS, MANUAL),
    "api trigger (registry webhook)": ({"CI_PIPELINE_SOURCE": "trigger", "CI_COMMIT_BRANCH": "main"},
                                       OWN | BUILD_AND_GATES | DEPLOYS, MANUAL),
    "push with the capacity plan": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                                     "LATENCY_CAPACITY": "true", "CAPACITY_TARGET_RPS": "200"},
                                    OWN | BUILD_AND_GATES | DEPLOYS | {"capacity"}, MANUAL),
    "merge request": ({"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_BRANCH": "",
                       "CI_MERGE_REQUEST_IID": "7"}, OWN | BUILD_AND_GATES, set()),
    "schedule": ({"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}, {"loadtest"}, set()),
    "push with DEPLOY_STRATEGY=canary": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                                          "DEPLOY_STRATEGY": "canary"}, OWN | BUILD_AND_GATES | DEPLOYS,
                                         MANUAL | {f"canary:{d}:{e}" for d in ("promote-now", "abort")
                                                   for e in ("staging", "production")}),
    "release tag": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "", "CI_COMMIT_TAG": "0.2.0"},
                    OWN | BUILD_AND_GATES | {"release"}, set()),
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
    ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "1.2.3"}, True),
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
            if isinstance(job, dict) and ("script" in job or "extends" in job)}
    for name, job in jobs.items():
        if name.startswith(".") or name in OWN | {"release"}:
            continue
        assert job.get("extends") in (".python-job", ".build-gates-job", ".container-job", ".deploy-job", ".deploy",
                                      ".registry-job", ".canary-decision"), name
    assert pipeline[".container-job"]["extends"] == ".build-gates-job"
    for base in (".build-gates-job", ".deploy-job", "loadtest"):
        assert pipeline[base]["extends"] == ".python-job", base
    for name, job in pipeline.items():
        for line in (job.get("script", []) if isinstance(job, dict) and name != "release" else []):
            assert line.startswith("python -m ci "), f"{name}: {line}"
    by_inputs = [variable for job in (".build-gates-job", ".deploy-job", "loadtest")
                 for variable in pipeline[job]["variables"]]
    for variable in [*pipeline["variables"], *by_inputs]:
        assert variable in header, f"{variable} is not documented in the header comment"
    for name in DEPLOYS:
        assert pipeline[name]["environment"]["name"] and pipeline[name]["resource_group"]


def test_no_job_installs_anything():
    """The jobs run in the pipeline image: no pip install, no apt-get before the first `python -m ci`."""
    for name, job in load_pipeline().items():
        for line in (job.get("before_script", []) + job.get("script", []) if isinstance(job, dict) else []):
            assert "pip install" not in line and "apt-get" not in line, f"{name}: {line}"


def test_release_job_runs_on_semver_tags_with_the_release_keyword():
    release = load_pipeline()["release"]
    assert release["release"]["tag_name"] == "$CI_COMMIT_TAG"
    assert [rule["if"] for rule in release["rules"]] == ["$CI_COMMIT_TAG =~ /^[0-9]+\\.[0-9]+\\.[0-9]+$/"]
