"""Host-wide state of one cluster slot: the slot's lock file, its cgroup root, and the clean-up of
what its pods leave on the host (network namespaces, bridge, CNI results, cgroups, mounts).

Several test sessions may run on one machine at the same time, so each cluster takes a *slot*
(a lock file held while it runs) and names everything host-wide after it; clean-up touches only
what belongs to that slot.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from devstack.procs import InfraError, run

LOCK_DIR = Path("/run/pyfunc-deploy")
MAX_SLOTS = 32


def lock_free_slot() -> tuple[int, IO[str]]:
    """The first slot whose lock file no other process holds, and that lock (held until closed)."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(MAX_SLOTS):
        lock = open(LOCK_DIR / f"cluster-{slot}.lock", "w")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return slot, lock
    raise InfraError(f"all {MAX_SLOTS} cluster slots in {LOCK_DIR} are taken")


def make_cgroup_root(cgroup_root: str) -> None:
    """The kubelet insists its --cgroup-root exists in every (v1) hierarchy."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if hierarchy.name == "unified" or not hierarchy.is_dir():
            continue
        path = hierarchy / cgroup_root
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (path / knob).write_text((hierarchy / knob).read_text())


def clean_host(bridge: str, network_name: str, cgroup_root: str, sandboxes: dict[str, str]) -> None:
    """Host-wide leftovers of this slot: pod netns, bridge, CNI result cache, cgroups."""
    for netns in filter(None, set(sandboxes.values())):
        run("ip", "netns", "delete", Path(netns).name, check=False)
    if Path("/sys/class/net", bridge).exists():
        run("ip", "link", "delete", bridge, check=False)
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for entry in results.iterdir():  # named NETWORK-CONTAINERID-IFNAME
            if entry.name.startswith(network_name + "-") or any(
                    f"-{cid}-" in entry.name for cid in sandboxes):
                entry.unlink(missing_ok=True)
    remove_cgroups(cgroup_root)


def remove_cgroups(name: str) -> None:
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        root = hierarchy / name
        if not root.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):  # still in use: leave it
                os.rmdir(dirpath)


def unmount_under(directory: Path) -> None:
    prefix = str(directory)
    with open("/proc/self/mountinfo") as mountinfo:
        targets = [line.split()[4] for line in mountinfo]
    for target in sorted({t for t in targets if t == prefix or t.startswith(prefix + "/")},
                         key=len, reverse=True):
        run("umount", "--lazy", target, check=False)
