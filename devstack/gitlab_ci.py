"""`.gitlab-ci.yml` seen the way GitLab would (where gitlab-ci-local cannot), and where gitlab-ci-local is.

`load_pipeline` gives the file with the components it includes merged in, their inputs filled.

gitlab-ci-local ignores `workflow:rules`, so `workflow_creates_pipeline` evaluates them with the
subset of GitLab's expression syntax the file uses (`==`, `!=`, `=~ /re/`, `&&`, `||`, bare
`$VAR`). An expression outside that subset raises, so a new rule cannot be silently misjudged.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from devstack.component import component, load_yaml
from devstack.procs import CACHE_DIR

REPO = Path(__file__).resolve().parents[1]
GITLAB_CI_LOCAL_VERSION = "4.73.0"
GITLAB_CI_LOCAL = (CACHE_DIR / f"npm-gitlab-ci-local-{GITLAB_CI_LOCAL_VERSION}"
                   / "node_modules" / ".bin" / "gitlab-ci-local")

_ATOM = re.compile(r"""^\$(\w+)\s*(?:(==|!=)\s*(?:"([^"]*)"|\$(\w+))|=~\s*/(.*)/)?$""")


def load_pipeline(path: Path = REPO / ".gitlab-ci.yml") -> dict:
    """The file and, merged in, each `include: component:` of this project, rendered with its inputs."""
    pipeline = load_yaml(path.read_text())
    for include in pipeline.get("include") or []:
        if isinstance(include, dict) and "component" in include:
            name = include["component"].rsplit("/", 1)[-1].split("@")[0]
            pipeline = {**component(name).render(include.get("inputs")), **pipeline}
    return pipeline


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    def atom(text: str) -> bool:
        match = _ATOM.match(text.strip())
        if not match:
            raise ValueError(f"expression not supported by this evaluator: {text!r}")
        name, op, literal, other, regex = match.groups()
        value = variables.get(name, "")
        if regex is not None:
            return re.search(regex, value) is not None
        if op is None:
            return value != ""
        expected = literal if literal is not None else variables.get(other, "")
        return (value == expected) if op == "==" else (value != expected)

    return any(all(atom(part) for part in clause.split("&&")) for clause in expression.split("||"))


def workflow_creates_pipeline(variables: dict[str, str]) -> bool:
    for rule in load_pipeline()["workflow"]["rules"]:
        if "if" not in rule or evaluate(rule["if"], variables):
            return rule.get("when", "always") != "never"
    return False


def list_jobs(variables: dict[str, str], cwd: Path = REPO) -> dict[str, str]:
    """Job name -> `when` for a pipeline with these predefined variables, as gitlab-ci-local sees it."""
    argv = [str(GITLAB_CI_LOCAL), "--list-json"]
    for name, value in variables.items():
        argv += ["--variable", f"{name}={value}"]
    env = {**os.environ, "GCL_IGNORE_PREDEFINED_VARS": ",".join(variables)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                            check=True)
    return {job["name"]: job["when"] for job in json.loads(result.stdout)}
