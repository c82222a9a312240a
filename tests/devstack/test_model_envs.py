"""Model environments are real venvs on the Python they name, holding exactly their pins, cached by spec."""
from __future__ import annotations

import pytest

from devstack.model_envs import SPECS, EnvSpec, ensure_env, find_python, python_candidates
from devstack.procs import InfraError

pytestmark = pytest.mark.zoo

IMPORTS = {"scikit-learn": "sklearn", "xgboost-cpu": "xgboost"}


def test_a_missing_interpreter_names_what_to_install(monkeypatch):
    monkeypatch.setenv("PYFUNC_DEPLOY_PYTHON_2_5", "/nonexistent/python2.5")
    with pytest.raises(InfraError, match=r"Install CPython 2\.5 \(e\.g\. `pyenv install 2\.5`"):
        find_python("2.5")
    assert python_candidates("2.5")[0] == "/nonexistent/python2.5"


@pytest.mark.parametrize("minor", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_every_supported_python_is_found(minor):
    _, version = find_python(minor)
    assert version.startswith(minor + ".")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_env_has_its_python_and_pins(name):
    spec = SPECS[name]
    env = ensure_env(name)
    assert env.python_version.startswith(spec.python + ".")
    pinned = dict(pin.split("==") for pin in spec.packages)
    assert env.versions(*pinned) == pinned
    modules = [IMPORTS.get(dist, dist) for dist in pinned]
    env.run("-c", f"import {', '.join(modules)}")
    assert ensure_env(name).path == env.path  # cached: the second call finds it complete


def test_env_key_follows_the_spec():
    spec = SPECS["py39-mlflow210"]
    other = EnvSpec(spec.name, spec.python, (*spec.packages, "six==1.16.0"))
    assert spec.key("3.9.18") != other.key("3.9.18") != spec.key("3.9.19")
    assert spec.key("3.9.18") == EnvSpec(spec.name, spec.python, spec.packages).key("3.9.18")
