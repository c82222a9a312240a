"""ci/registry/selector.py: what a selector or a promotion target means."""
from __future__ import annotations

import pytest

from ci.errors import ConfigError
from ci.registry.selector import Selector, parse_selector, parse_target


@pytest.mark.parametrize(("text", "selector", "shown"), [
    pytest.param("@production", Selector("alias", "production"), "@production", id="alias"),
    pytest.param("  @champion ", Selector("alias", "champion"), "@champion", id="alias-blanks"),
    pytest.param("3", Selector("version", "3"), "3", id="version"),
    pytest.param("007", Selector("version", "7"), "7", id="version-leading-zeros"),
    pytest.param("production", Selector("stage", "Production"), "Production", id="stage-any-case"),
    pytest.param("STAGING", Selector("stage", "Staging"), "Staging", id="stage-upper"),
    pytest.param("Archived", Selector("stage", "Archived"), "Archived", id="archived"),
])
def test_parse_selector(text, selector, shown):
    assert parse_selector(text) == selector
    assert str(parse_selector(text)) == shown


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param(None, id="none"), pytest.param("@", id="bare-at"),
    pytest.param("0", id="version-zero"), pytest.param("-1", id="negative"), pytest.param("v3", id="v-prefix"),
    pytest.param("prod", id="unknown-stage"), pytest.param("None", id="stage-none"),
])
def test_parse_selector_rejects(text):
    with pytest.raises(ConfigError, match="use an alias \\(@production\\), a stage \\(Staging, Production\\)"):
        parse_selector(text)


@pytest.mark.parametrize(("text", "target"), [
    pytest.param("@production", Selector("alias", "production"), id="alias"),
    pytest.param("production", Selector("stage", "Production"), id="stage"),
])
def test_parse_target(text, target):
    assert parse_target(text) == target


def test_parse_target_refuses_a_version():
    with pytest.raises(ConfigError, match="promotion target '4': use an alias"):
        parse_target("4")
