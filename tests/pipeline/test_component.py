"""The CI/CD component as GitLab reads it: valid against GitLab's CI schema, every input typed and
documented, no global keywords, the tables of docs/component.md generated from the spec, and bad
inputs refused with GitLab's own messages (gitlab-ci-local implements GitLab's `options`/`regex`/required
checks)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from devstack import component_docs
from devstack.component import TEMPLATES, components
from devstack.gitlab_ci import GITLAB_CI_LOCAL, REPO

GLOBAL_KEYWORDS = {"variables", "default", "workflow", "stages", "include", "image", "services", "before_script",
                   "after_script", "cache"}
COMPONENTS = {c.name: c for c in components()}


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    checker = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(checker), "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
                           *map(str, paths)], capture_output=True, text=True)


def test_there_is_a_component():
    assert "pipeline" in COMPONENTS, sorted(COMPONENTS)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_both_documents_and_the_rendered_jobs_are_valid_for_gitlab(name, tmp_path):
    component = COMPONENTS[name]
    header, body = component.documents
    rendered = component.render({n: "m" for n, s in component.inputs.items() if "default" not in s})
    paths = []
    for label, text in (("header", header), ("body", body), ("rendered", yaml.safe_dump(rendered))):
        paths.append(tmp_path / f"{label}.yml")
        paths[-1].write_text(text)
    result = check_jsonschema(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("spec:\n  inputs:\n    x:\n      type: text\n")
    assert check_jsonschema(path).returncode != 0


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_every_input_is_typed_documented_and_used(name):
    component = COMPONENTS[name]
    header, body = component.documents
    used = set(re.findall(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", body))
    assert used == set(component.inputs), f"declared but unused: {set(component.inputs) - used}; " \
                                          f"used but undeclared: {used - set(component.inputs)}"
    for input_name, spec in component.inputs.items():
        assert spec.get("type") in {"string", "number", "boolean", "array"}, input_name
        assert len(spec.get("description", "")) > 10, f"{input_name} has no description"
        if "regex" in spec and "default" in spec:
            assert re.fullmatch(spec["regex"], str(spec["default"])), f"{input_name}: default fails its regex"
        if "options" in spec:
            assert spec.get("default") in spec["options"], input_name


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_no_global_keywords_and_stages_come_from_inputs(name):
    component = COMPONENTS[name]
    body = yaml.safe_load(component.documents[1].replace("!reference", ""))
    assert not GLOBAL_KEYWORDS & set(body), GLOBAL_KEYWORDS & set(body)
    for job_name, job in body.items():
        assert job_name.lstrip(".").startswith("$[[ inputs.job_prefix ]]"), job_name
        if "stage" in job:
            assert job["stage"].startswith("$[[ inputs.stage_"), job_name
        for line in job.get("before_script", []) + job.get("script", []):
            assert "pip install" not in line and "apt-get" not in line, f"{job_name}: {line}"


def test_docs_tables_equal_the_specs():
    current = component_docs.PAGE.read_text()
    assert component_docs.render_page(current) == current, "run `python -m devstack.component_docs`"


def test_docs_check_fails_on_a_drifted_table():
    drifted = component_docs.render_page(component_docs.PAGE.read_text()).replace("| `model_name` |", "| `x` |")
    assert component_docs.render_page(drifted) != drifted


def test_the_released_image_is_the_project_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert COMPONENTS["pipeline"].inputs["pipeline_image"]["default"].endswith(f"/pipeline:{version}")
    assert f"## {version}" in (REPO / "CHANGELOG.md").read_text()


# gitlab-ci-local: a project that includes components at its own commit, as this repository does.
STAGES = [f"s-{n}" for n in ("preflight", "build", "gate", "staging", "production", "promote", "loadtest")]


def component_project(root: Path, inputs: dict, names: tuple[str, ...] = ("pipeline",)) -> Path:
    """Each component in `names` included with the inputs of `inputs` it declares."""
    shutil.copytree(TEMPLATES, root / "templates")
    (root / ".gitlab-ci.yml").write_text(yaml.safe_dump({
        "stages": STAGES,
        "include": [{"component": f"$CI_SERVER_FQDN/$CI_PROJECT_PATH/{name}@$CI_COMMIT_SHA",
                     "inputs": {k: v for k, v in inputs.items() if k in COMPONENTS[name].inputs}}
                    for name in names],
    }))
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "component"]):
        subprocess.run(["git", *argv], cwd=root, check=True)
    return root


def gcl_list(root: Path) -> subprocess.CompletedProcess[str]:
    """Jobs as gitlab-ci-local lists them (GitLab's schema is checked by check-jsonschema above)."""
    argv = [str(GITLAB_CI_LOCAL), "--list", "--no-color", "--no-json-schema-validation",
            "--variable", "CI_PIPELINE_SOURCE=push", "--variable", "CI_COMMIT_BRANCH=main",
            "--variable", "CI_DEFAULT_BRANCH=main"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root),
           "GCL_IGNORE_PREDEFINED_VARS": "CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_DEFAULT_BRANCH"}
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120, env=env)


STAGE_INPUTS = {f"stage_{n}": f"s-{n}" for n in ("preflight", "build", "gate", "staging", "production", "promote",
                                                 "loadtest")}


def test_inputs_shape_the_jobs(tmp_path):
    result = gcl_list(component_project(tmp_path, {"model_name": "fraud", "job_prefix": "fraud-", **STAGE_INPUTS}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^fraud-gate:latency\s+s-gate\s+on_success", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^fraud-promote\s+s-promote\s+manual", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize(("inputs", "message"), [
    ({"image_builder": "podman"}, "`image_builder` input: `podman` cannot be used because it is not in the list "
                                  "of allowed options"),
    ({"staging_namespace": "Staging_NS"}, "`staging_namespace` input: `Staging_NS` does not match required regex"),
    ({"model_selector": "@prod uction"}, "`model_selector` input: `@prod uction` does not match required regex"),
    ({"model_name": None}, "`model_name` input: required value has not been provided"),
    ({"latency_p95_ms": "fast"}, "`latency_p95_ms` input: provided value is not a number"),
])
def test_a_bad_input_is_refused_with_gitlabs_message(tmp_path, inputs, message):
    given = {"model_name": "fraud", **STAGE_INPUTS, **inputs}
    result = gcl_list(component_project(tmp_path, {k: v for k, v in given.items() if v is not None}))
    assert result.returncode != 0, result.stdout
    assert message in result.stdout + result.stderr, result.stdout + result.stderr


# The parts (templates/build-gates, deploy, loadtest): each included alone, and two together.
PUSH_JOBS = {"build-gates": {"preflight", "resolve", "build", "gate:load", "gate:signature", "gate:latency"},
             "deploy": {"deploy:staging", "deploy:production"}, "loadtest": set()}
MANUAL_JOBS = {"build-gates": set(), "deploy": {"promote", "rollback"}, "loadtest": set()}


def listed(stdout: str) -> dict[str, tuple[str, str]]:
    """Job -> (stage, when) from `gitlab-ci-local --list`."""
    rows = (line.split() for line in stdout.splitlines()[1:])
    return {row[0]: (row[1], row[2]) for row in rows if len(row) >= 3}


@pytest.mark.parametrize("names", [("build-gates",), ("deploy",), ("loadtest",), ("build-gates", "deploy")],
                         ids="+".join)
def test_a_part_alone_or_two_together_make_a_valid_pipeline(tmp_path, names):
    """A missing optional need (deploy without build-gates) is no error; the stages are the inputs'."""
    inputs = {"model_name": "fraud", "job_prefix": "fraud-", **STAGE_INPUTS}
    result = gcl_list(component_project(tmp_path, inputs, names))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = listed(result.stdout)
    for when, wanted in (("on_success", PUSH_JOBS), ("manual", MANUAL_JOBS)):
        expected = {f"fraud-{job}" for name in names for job in wanted[name]}
        assert {job for job, (_, state) in jobs.items() if state == when} == expected, result.stdout
    assert {stage for stage, _ in jobs.values()} <= set(STAGES)


@pytest.mark.parametrize(("name", "inputs", "message"), [
    ("build-gates", {"image_builder": "podman"}, "`image_builder` input: `podman` cannot be used because it is "
                                                 "not in the list of allowed options"),
    ("deploy", {"deploy_strategy": "blue-green"}, "`deploy_strategy` input: `blue-green` cannot be used because "
                                                  "it is not in the list of allowed options"),
    ("deploy", {"model_version": "v3"}, "`model_version` input: `v3` does not match required regex"),
    ("deploy", {"image_ref": "registry/model :1"}, "`image_ref` input: `registry/model :1` does not match "
                                                   "required regex"),
    ("deploy", {"model_name": None}, "`model_name` input: required value has not been provided"),
    ("loadtest", {"loadtest_duration": "1 minute"}, "`loadtest_duration` input: `1 minute` does not match "
                                                    "required regex"),
], ids=lambda value: value if isinstance(value, str) and " " not in value else None)
def test_a_part_refuses_a_bad_input_with_gitlabs_message(tmp_path, name, inputs, message):
    given = {"model_name": "fraud", **STAGE_INPUTS, **inputs}
    result = gcl_list(component_project(tmp_path, {k: v for k, v in given.items() if v is not None}, (name,)))
    assert result.returncode != 0, result.stdout
    assert message in result.stdout + result.stderr, result.stdout + result.stderr
