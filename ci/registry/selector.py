"""Model selectors: `@alias`, a legacy stage (`Production`, `Staging`) or a version number.

With no selector the pipeline asks for `@production` and, only because nothing was asked explicitly,
falls back to the legacy stage `Production` when that alias does not exist (teams migrating from
stages to aliases keep working, with a warning). An explicit `--selector @production` never falls
back: asking for an alias and silently getting something else is how the wrong model ships.
"""
from __future__ import annotations

from dataclasses import dataclass

from ci.errors import ConfigError

DEFAULT_SELECTOR = "@production"
FALLBACK_STAGE = "Production"
STAGES = ("Staging", "Production", "Archived")


@dataclass(frozen=True)
class Selector:
    kind: str  # "alias" | "stage" | "version"
    value: str

    def __str__(self) -> str:
        return {"alias": f"@{self.value}", "stage": self.value}.get(self.kind, self.value)


def parse_selector(text: str) -> Selector:
    text = (text or "").strip()
    if text.startswith("@") and len(text) > 1:
        return Selector("alias", text[1:])
    if text.isdigit() and int(text) > 0:
        return Selector("version", str(int(text)))
    for stage in STAGES:
        if text.lower() == stage.lower():
            return Selector("stage", stage)
    raise ConfigError(f"model selector {text!r}: use an alias (@production), a stage "
                      f"({', '.join(STAGES[:2])}) or a version number")


def parse_target(text: str) -> Selector:
    """Where promote/rollback write: an alias or a stage, never a version number."""
    target = parse_selector(text)
    if target.kind == "version":
        raise ConfigError(f"promotion target {text!r}: use an alias (@production) or a stage (Production)")
    return target
