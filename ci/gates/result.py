"""What every gate returns: a verdict, its checks, the figures for the registry tag and the report."""
from __future__ import annotations

from dataclasses import dataclass, field

from ci.reports import Check


@dataclass(frozen=True)
class GateResult:
    gate: str  # "load" | "signature" | "latency"
    checks: list[Check]
    summary: dict  # the figures recorded on the model version (small: a registry tag)
    report: dict = field(default_factory=dict)  # everything else for <gate>.json
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]
