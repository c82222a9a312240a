"""service/cgroup.py: the CPU quota read from cgroup files, capped by the CPUs this process may use
(cases beyond tests/service/test_cgroup.py: malformed files, rounding and the affinity cap)."""
from __future__ import annotations

import pytest

from service.cgroup import cpu_limit


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize(("files", "affinity", "expected"), [
    pytest.param({"cpu.max": "250000 100000\n"}, 8, 3, id="quota-rounded-up"),
    pytest.param({"cpu.max": "400000 100000\n"}, 2, 2, id="capped-by-affinity"),
    pytest.param({"cpu.max": "1000 100000\n"}, 8, 1, id="tiny-quota-is-one"),
    pytest.param({"cpu.max": "max\n"}, 6, 6, id="max-without-period"),
    pytest.param({"cpu.max": "garbage\n"}, 6, 6, id="malformed-v2"),
    pytest.param({"cpu.max": ""}, 6, 6, id="empty-v2"),
    pytest.param({"cpu.max": "200000 100000\n", "cpu/cpu.cfs_quota_us": "800000\n",
                  "cpu/cpu.cfs_period_us": "100000\n"}, 16, 2, id="v2-preferred"),
    pytest.param({"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "50000\n"}, 16, 3, id="v1"),
    pytest.param({"cpu/cpu.cfs_quota_us": "0\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4, 4, id="v1-zero-unlimited"),
    pytest.param({"cpu/cpu.cfs_quota_us": "100000\n"}, 4, 4, id="v1-period-missing"),
    pytest.param({"cpu/cpu.cfs_quota_us": "abc\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4, 4, id="v1-malformed"),
])
def test_cpu_limit(tmp_path, monkeypatch, files, affinity, expected):
    write(tmp_path, files)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(affinity)))
    assert cpu_limit(tmp_path) == expected
