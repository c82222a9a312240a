"""ci/progressive/strategies.py: the strategy from DEPLOY_STRATEGY, and a first deploy that rolls out."""
from __future__ import annotations

from types import SimpleNamespace

import click
import pytest

from ci.commands.deploy import deploy_command
from ci.errors import ConfigError
from ci.progressive import strategies


def settings(**overrides) -> dict:
    """Every strategy setting at its command-line default, as `ci deploy` hands them over."""
    defaults = {param.name: param.default for param in deploy_command.params if isinstance(param, click.Option)}
    return {**defaults, **overrides}


def cluster(live: bool):
    return SimpleNamespace(deployment=lambda name: {"metadata": {"name": name}} if live else None)


@pytest.mark.parametrize("name", strategies.NAMES)
def test_each_name_is_its_strategy_and_a_first_deploy_rolls_out(name):
    chosen = strategies.choose(name, settings(), b"{}", "svc")
    assert chosen.name == name
    assert strategies.for_live(chosen, cluster(live=True), "model").name == name
    assert strategies.for_live(chosen, cluster(live=False), "model").name == "rolling"


def test_the_plans_carry_the_settings():
    canary = strategies.choose("canary", settings(canary_steps="25,100", canary_max_p95_ms=300), b"{}", "svc")
    assert canary.plan.steps == (25, 100) and canary.plan.thresholds.max_p95_seconds == 0.3
    shadow = strategies.choose("shadow", settings(shadow_min_rows=50, shadow_max_changed_share=0.05), b"{}", "svc")
    assert shadow.plan.thresholds.min_rows == 50 and shadow.plan.thresholds.max_changed_share == 0.05
    assert shadow.plan.bodies == (b"{}",)  # the smoke's body, without SHADOW_INPUT


def test_a_bad_setting_is_refused_before_any_cluster_is_asked():
    with pytest.raises(ConfigError, match="CANARY_STEPS"):
        strategies.choose("canary", settings(canary_steps="50,10"), b"{}", "svc")
