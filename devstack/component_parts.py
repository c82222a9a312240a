"""`python -m devstack.component_parts [--check]`: writes the whole-pipeline component
(templates/pipeline/template.yml) from the parts a project may also include on their own
(templates/build-gates, deploy, loadtest), so no job is written twice and the two cannot drift.

Why a generator and not an `include:` inside the pipeline component: a component can include
another one only by its full address, and GitLab gives a component no way to name its own project
(`$[[ component.sha ]]` exists, the project path does not), so a mirror or a fork under another
group would include the wrong project. Generated, the pipeline is one self-contained file.

The parts are cut into top-level entries as text (each with the comment lines above it), so the
pipeline keeps their quoting and comments. An input or a job that two parts both declare (the
shared `.python-job`, `model_name`, ...) must be the same text in both: it appears once in the
pipeline, and two parts included together agree on it. `--check` changes nothing and exits 1
when the file differs (tests/unit/test_component_parts.py runs the same comparison).
"""
from __future__ import annotations

import argparse
import json
import re
import sys

import yaml

from devstack.component import TEMPLATES, Component, component, refresh

PARTS = ("build-gates", "deploy", "loadtest")
WHOLE = TEMPLATES / "pipeline" / "template.yml"
DESCRIPTION = ("An MLflow PyFunc model from the Model Registry to Kubernetes: build, gate, deploy, promote, "
               "load-test.")
HEADER = """\
# The whole pyfunc-deploy pipeline as one GitLab CI/CD component: preflight, resolve, build, the
# three gates, deploy to staging and production, the manual promote and rollback, the scheduled
# load test. The including project declares `stages:` (the stage inputs name them) and its
# `workflow:`; secrets and the MLflow server stay CI/CD variables (see docs/settings.md).
# Generated from the parts templates/{{{parts}}}/template.yml: do not edit;
# edit a part, then run `python -m devstack.component_parts`.
"""
_INPUTS = re.compile(r"^  inputs:\n", re.MULTILINE)


class PartsDisagree(ValueError):
    """Two parts declare one input or job differently: the pipeline could only keep one of them."""


def entries(text: str, indent: int) -> dict[str, str]:
    """The mapping entries at `indent` in `text`, by key, each with the comment lines just above it."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    comments: list[str] = []
    for line in text.splitlines():
        margin = len(line) - len(line.lstrip(" "))
        if line.strip() and margin == indent and line.lstrip().startswith("#"):
            comments.append(line)
        elif line.strip() and margin == indent:
            current = found.setdefault(next(iter(yaml.safe_load(line.strip()))), [])
            if current:
                raise PartsDisagree(f"{line.strip()} is declared twice in one file")
            current += [*comments, line]
            comments = []
        elif current is not None:
            current += [*comments, line]
            comments = []
    return {key: "\n".join(lines).rstrip() for key, lines in found.items()}


def _merge(kind: str, parts: list[Component], pick) -> dict[str, str]:
    merged: dict[str, tuple[str, str]] = {}
    for part in parts:
        for key, text in pick(part).items():
            first = merged.setdefault(key, (text, part.name))
            if first[0] != text:
                raise PartsDisagree(f"{kind} {key!r} differs between the {first[1]} and {part.name} parts: "
                                    f"make the two the same (the pipeline keeps one of them)")
    return {key: text for key, (text, _) in merged.items()}


def _inputs(part: Component) -> dict[str, str]:
    header = part.documents[0]
    if not _INPUTS.search(header):
        raise PartsDisagree(f"the {part.name} part has no `  inputs:` under its spec")
    return entries(_INPUTS.split(header, maxsplit=1)[1], 4)


def compose(parts: list[Component]) -> str:
    """The whole-pipeline component: every part's inputs and jobs once, in the parts' order."""
    kinds = {tuple(part.spec.get("component", [])) for part in parts}
    if len(kinds) != 1:
        raise PartsDisagree(f"the parts' `spec: component:` lists differ: {sorted(kinds)}")
    inputs = _merge("input", parts, _inputs)
    jobs = _merge("job", parts, lambda part: entries(part.documents[1], 0))
    return "\n".join([
        HEADER.format(parts=",".join(part.name for part in parts)).rstrip(),
        "spec:",
        f"  description: {json.dumps(DESCRIPTION)}",
        f"  component: [{', '.join(kinds.pop())}]",
        "  inputs:",
        *inputs.values(),
        "---",
        "\n\n".join(jobs.values()),
        "",
    ])


def generated() -> str:
    return compose([component(name) for name in PARTS])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.component_parts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {WHOLE.name} is not up to date")
    args = parser.parse_args()
    try:
        wanted = generated()
    except PartsDisagree as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return refresh(WHOLE, wanted, args.check, "python -m devstack.component_parts")


if __name__ == "__main__":
    sys.exit(main())
