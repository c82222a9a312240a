"""devstack/component_parts.py: the whole-pipeline component is its parts put together, each part
stands alone (a need on another part's job is optional), and parts that disagree are refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from devstack import component_parts
from devstack.component import Component, component, load_yaml

PREFIX = "$[[ inputs.job_prefix ]]"


def test_the_pipeline_component_is_generated_from_the_parts():
    assert component_parts.WHOLE.read_text() == component_parts.generated(), \
        "run `python -m devstack.component_parts`"


def test_every_job_and_input_of_a_part_is_in_the_pipeline_as_the_part_says():
    whole = component("pipeline")
    jobs = load_yaml(whole.documents[1])
    for name in component_parts.PARTS:
        part = component(name)
        assert part.inputs.items() <= whole.inputs.items(), name
        assert load_yaml(part.documents[1]).items() <= jobs.items(), name


@pytest.mark.parametrize("name", component_parts.PARTS)
def test_a_part_needs_another_parts_job_only_optionally(name):
    """So a project can include the part alone: GitLab refuses a pipeline whose need is missing."""
    jobs = load_yaml(component(name).documents[1])
    for job_name, job in jobs.items():
        for need in job.get("needs") or []:
            target = need if isinstance(need, str) else need["job"]
            if target not in jobs:
                assert isinstance(need, dict) and need.get("optional") is True, f"{job_name} needs {target}"


def test_deploy_alone_takes_the_image_from_an_input_that_a_dotenv_overrides():
    variables = load_yaml(component("deploy").documents[1])[f".{PREFIX}deploy-job"]["variables"]
    assert variables["IMAGE_REF"] == "$[[ inputs.image_ref ]]"
    assert variables["MODEL_VERSION"] == "$[[ inputs.model_version ]]"
    assert component("deploy").inputs["image_ref"]["default"] == ""


def test_entries_keep_the_comment_above_them_and_nested_lines():
    text = "# about a\na:\n  x: 1\n\n  # inner\n  y: 2\n\n# about b\nb: 3\n"
    assert component_parts.entries(text, 0) == {"a": "# about a\na:\n  x: 1\n\n  # inner\n  y: 2",
                                                "b": "# about b\nb: 3"}


def _part(root: Path, name: str, inputs: str, body: str) -> Component:
    path = root / name / "template.yml"
    path.parent.mkdir(parents=True)
    path.write_text(f"spec:\n  component: [name]\n  inputs:\n{inputs}---\n{body}")
    return Component(name, path)


def test_parts_compose_with_shared_entries_once(tmp_path):
    shared = "    job_prefix:\n      type: string\n      default: \"\"\n"
    base = '".base":\n  image: x\n'
    one = _part(tmp_path, "one", shared, base + '\n"a":\n  extends: ".base"\n  script: [a]\n')
    two = _part(tmp_path, "two", shared, base + '\n"b":\n  extends: ".base"\n  script: [b]\n')
    spec, body = component_parts.compose([one, two]).split("\n---\n")
    assert spec.count("job_prefix:") == 1
    assert list(load_yaml(body)) == [".base", "a", "b"]


@pytest.mark.parametrize(("second_inputs", "second_body", "message"), [
    ("    job_prefix:\n      type: string\n      default: x\n", '".base":\n  image: x\n',
     "input 'job_prefix' differs between the one and two parts"),
    ("    job_prefix:\n      type: string\n      default: \"\"\n", '".base":\n  image: y\n',
     "job '.base' differs between the one and two parts"),
], ids=["an input", "a job"])
def test_parts_that_disagree_are_refused_naming_what_differs(tmp_path, second_inputs, second_body, message):
    one = _part(tmp_path, "one", "    job_prefix:\n      type: string\n      default: \"\"\n", '".base":\n  image: x\n')
    two = _part(tmp_path, "two", second_inputs, second_body)
    with pytest.raises(component_parts.PartsDisagree, match=message):
        component_parts.compose([one, two])


def test_check_fails_on_a_stale_pipeline_and_a_write_fixes_it(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "template.yml"
    stale.write_text(component_parts.generated().replace("python -m ci deploy", "python -m ci deploy --x"))
    monkeypatch.setattr(component_parts, "WHOLE", stale)
    for argv, code in ((["--check"], 1), ([], 0), (["--check"], 0)):
        monkeypatch.setattr("sys.argv", ["component_parts", *argv])
        assert component_parts.main() == code, argv
    assert "out of date: run python -m devstack.component_parts" in capsys.readouterr().out
