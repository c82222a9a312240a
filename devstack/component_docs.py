"""`python -m devstack.component_docs [--check]`: the docs page's section of each CI/CD component
(templates/), written from its `spec:` so the inputs table cannot drift from what GitLab enforces.

The generated text sits between `<!-- components start -->` and `<!-- components end -->` in
docs/component.md; everything else on the page is left alone. `--check` changes nothing and exits 1
when the page differs (tests/pipeline/test_component.py runs the same comparison).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.component import Component, components, refresh
from devstack.component_parts import PARTS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "component.md"
START, END = "<!-- components start -->", "<!-- components end -->"


def _cell(value) -> str:
    if value is None:
        return ""
    text = json.dumps(value) if isinstance(value, (bool, int, float)) else str(value)
    return "`" + text.replace("|", "\\|") + "`" if text else '`""`'


def _allowed(spec: dict) -> str:
    if "options" in spec:
        return ", ".join(_cell(option) for option in spec["options"])
    return f"regex {_cell(spec['regex'])}" if "regex" in spec else ""


def section(component: Component) -> str:
    """One component: heading, what it does, the include line and the inputs table."""
    spec = component.spec
    required = [name for name, item in component.inputs.items() if "default" not in item]
    example = "\n".join(f"      {name}: <{component.inputs[name].get('type', 'string')}>" for name in required)
    lines = [
        f"## Component `{component.name}`", "",
        spec.get("description", ""), "",
        "```yaml",
        "include:",
        f"  - component: $CI_SERVER_FQDN/<group>/pyfunc-deploy/{component.name}@<version>",
        *(["    inputs:", example] if required else []),
        "```", "",
        "Jobs (each name after `job_prefix`): " + ", ".join(f"`{job}`" for job in component.jobs) + ".", "",
        "| input | type | default | allowed values | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, item in component.inputs.items():
        default = _cell(item["default"]) if "default" in item else "**required**"
        description = item.get("description", "").replace("|", "\\|")
        lines.append(f"| `{name}` | {item.get('type', 'string')} | {default} | {_allowed(item)} | {description} |")
    return "\n".join(lines)


def generated() -> str:
    # The whole pipeline first, then the parts it is made of.
    ordered = sorted(components(), key=lambda component: component.name in PARTS)
    body = "\n\n".join(section(component) for component in ordered)
    note = "<!-- written by `python -m devstack.component_docs` from templates/: do not edit -->"
    return f"{START}\n{note}\n\n{body}\n\n{END}"


def render_page(text: str) -> str:
    """`text` with the generated block replaced; a page without the markers is an error."""
    if START not in text or END not in text:
        raise ValueError(f"docs/component.md has no {START} ... {END} block to write the components into")
    before, rest = text.split(START, 1)
    return before + generated() + rest.split(END, 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.component_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/component.md is not up to date")
    args = parser.parse_args()
    return refresh(PAGE, render_page(PAGE.read_text()), args.check, "python -m devstack.component_docs")


if __name__ == "__main__":
    sys.exit(main())
