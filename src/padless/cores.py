"""The cores this process may really use: its CPU affinity, capped by its cgroup's CPU quota.

``os.cpu_count()`` and torch's default thread count see the machine; a container with a CPU
quota (``docker run --cpus 2`` on a 32-core host) or a process pinned to a few cores
(``taskset``, a batch scheduler) may use far fewer. Both the training thread count
(:mod:`padless.train.threads`) and the tokenizer worker count
(:mod:`padless.encode.tokenizer_pool`) ask :func:`usable_cores`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["cgroup_cpu_limit", "usable_cores"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path: (v2 path, v1 cpu controller path), each None if absent."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _quota(text_quota: str, text_period: str) -> float | None:
    if text_quota in ("max", "-1"):
        return None
    quota, period = float(text_quota), float(text_period)
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_limit(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The CPU quota of this process's cgroup in cores (e.g. 1.5), or None when unlimited or
    unknown. Checks the cgroup's own directory, then the mount root (a container usually
    sees its own cgroup mounted there)."""
    v2, v1 = _own_cgroup(proc_cgroup)
    candidates: list[tuple[Path, bool]] = []
    if v2 is not None:
        candidates += [(root / v2.lstrip("/"), True), (root, True)]
    if v1 is not None:
        for base in (root / "cpu", root / "cpu,cpuacct"):
            candidates += [(base / v1.lstrip("/"), False), (base, False)]
    for directory, unified in candidates:
        try:
            if unified:
                quota, period = (directory / "cpu.max").read_text().split()[:2]
            else:
                quota = (directory / "cpu.cfs_quota_us").read_text().strip()
                period = (directory / "cpu.cfs_period_us").read_text().strip()
        except (OSError, ValueError):
            continue
        try:
            return _quota(quota, period)
        except ValueError:
            continue
    return None


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The CPUs this process may run on (affinity), capped by the cgroup quota, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)
