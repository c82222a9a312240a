"""The CI/CD components under templates/, read the way GitLab reads them: the `spec:` header, the
inputs a project gives (or their defaults) and the job body with `$[[ inputs.x ]]` filled in.

Why here: the static tests (rules, style, the input tables of docs/component.md) read the pipeline
the component makes without a GitLab; gitlab-ci-local checks the same files for real (options, regex,
types) in tests/pipeline/.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_INPUT = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def load_yaml(text: str) -> dict:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class Component:
    name: str
    path: Path

    @property
    def documents(self) -> tuple[str, str]:
        """The `spec:` header and the body, as text (GitLab separates them with `---`)."""
        header, body = re.split(r"^---\s*$", self.path.read_text(), maxsplit=1, flags=re.MULTILINE)
        return header, body

    @property
    def spec(self) -> dict:
        return load_yaml(self.documents[0])["spec"]

    @property
    def inputs(self) -> dict[str, dict]:
        return self.spec.get("inputs") or {}

    @property
    def jobs(self) -> list[str]:
        """The jobs it adds, without the job_prefix and without the hidden (`.name`) ones."""
        return [name.replace("$[[ inputs.job_prefix ]]", "") for name in load_yaml(self.documents[1])
                if not name.startswith(".")]

    def values(self, given: dict | None = None) -> dict:
        """Each input's value: the one given, else its default; a required one missing raises."""
        given = given or {}
        unknown = set(given) - set(self.inputs)
        if unknown:
            raise ValueError(f"{self.name}: unknown inputs {sorted(unknown)}")
        values = {}
        for name, spec in self.inputs.items():
            if name not in given and "default" not in spec:
                raise ValueError(f"{self.name}: input {name} is required")
            values[name] = given.get(name, spec.get("default"))
        return values

    def render(self, given: dict | None = None) -> dict:
        """The body with every `$[[ inputs.x ]]` replaced, parsed (strings keep their quotes:
        GitLab interpolates a value into the text it sits in)."""
        values = self.values(given)

        def text(value) -> str:
            return json.dumps(value) if isinstance(value, bool) else str(value)

        return load_yaml(_INPUT.sub(lambda m: text(values[m.group(1)]), self.documents[1]))


def components() -> list[Component]:
    """Every component: `templates/<name>.yml` or `templates/<name>/template.yml`, by name."""
    found = [Component(p.stem, p) for p in TEMPLATES.glob("*.yml")]
    found += [Component(p.parent.name, p) for p in TEMPLATES.glob("*/template.yml")]
    return sorted(found, key=lambda c: c.name)


def component(name: str) -> Component:
    for candidate in components():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no component {name!r} under {TEMPLATES}")


def refresh(path: Path, wanted: str, check: bool, command: str) -> int:
    """Write a file generated from templates/, or with `check` only compare: 1 when it is out of date."""
    name = path.relative_to(TEMPLATES.parent) if path.is_relative_to(TEMPLATES.parent) else path
    if check:
        if not path.exists() or path.read_text() != wanted:
            print(f"{name} is out of date: run {command}")
            return 1
        return 0
    path.write_text(wanted)
    print(f"{name}: written")
    return 0
