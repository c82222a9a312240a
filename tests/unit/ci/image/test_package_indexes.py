"""ci/image/package_indexes.py: the IMAGE_PACKAGE_INDEXES setting (its resolution runs pip:
tests/ci/test_preflight.py)."""
from __future__ import annotations

import re

import pytest

from ci.errors import ConfigError
from ci.image.package_indexes import from_own_indexes, parse
from ci.image.requirements import ImageSpec

CPU = "https://download.pytorch.org/whl/cpu"


def test_entries_name_packages_canonically_for_their_index():
    assert parse(f" Torch torchvision={CPU} ; my_lib=https://mirror.example/simple/ ;") == {
        "torch": CPU, "torchvision": CPU, "my-lib": "https://mirror.example/simple/"}
    assert parse("") == {}


@pytest.mark.parametrize(("setting", "message"), [
    ("torch", "is not `package [package ...]=index URL`"),
    (f"={CPU}", "is not `package"),
    ("torch=download.pytorch.org/whl/cpu", "is not `package"),
    ("torch=https://user:token@mirror.example/simple", "carries credentials"),
])
def test_a_bad_entry_names_itself_and_the_form(setting, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(setting)


def test_requirements_no_index_is_named_for_are_left_as_they_are():
    spec = ImageSpec("3.11", "python:3.11-slim", "mlflow==3.17.2", ["numpy==2.4.6", "mlflow==3.17.2"], [])
    assert from_own_indexes(spec, f"torch={CPU}") is spec
