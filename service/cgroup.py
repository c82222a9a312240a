"""The container's CPU count: its cgroup CPU quota, not the host's core count.

A pod limited to 2 CPUs on a 64-core node must not start 64 workers."""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _quota(root: Path) -> float | None:
    """CPUs allowed by the quota (cgroup v2 `cpu.max`, else v1 cfs files); None when unlimited."""
    try:
        v2 = root / "cpu.max"
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def cpu_limit(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs available: the quota rounded up, capped by the CPUs this process may run on."""
    available = len(os.sched_getaffinity(0))
    quota = _quota(root)
    return max(1, min(available, math.ceil(quota)) if quota is not None else available)
