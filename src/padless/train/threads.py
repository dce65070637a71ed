"""How many threads a run computes with: the cores this process may really use.

torch's default intra-op thread count is the machine's physical core count. In a container
with a CPU quota (``docker run --cpus 2`` on a 32-core host), or a process pinned to a few
cores (``taskset``, a batch scheduler), that oversubscribes: 32 threads share 2 cores' worth of
time, each parallel region waits for its slowest thread, and the kernel throttles the quota.
So, unless the user says otherwise, a run uses :func:`usable_cores` (never more than torch's
default): the CPUs in this process's affinity mask, capped by the cgroup CPU quota (v2
``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, rounded down, at least 1),
shared among the processes of this node under torchrun. ``train.num_threads`` or
``OMP_NUM_THREADS`` (torchrun sets it to 1 per rank by default) decide instead when given.

The fused kernels parallelise through ``at::parallel_for``, torch's own pool, so this one
count governs them too: there is no second pool to oversubscribe.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

__all__ = ["cgroup_cpu_limit", "choose_threads", "usable_cores"]

logger = logging.getLogger(__name__)

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


def choose_threads(
    configured: int | None, local_processes: int = 1, current: int = 0
) -> int | None:
    """The intra-op thread count a run should set, or None to leave torch's as it is:
    ``train.num_threads`` when given; None when ``OMP_NUM_THREADS`` is set (the user's or
    torchrun's choice, which torch already applied); else :func:`usable_cores` shared among
    the ``local_processes`` of this node, and at most ``current`` (torch's own default, the
    physical core count: hyperthreads do not speed up its kernels) when given."""
    if configured:
        return configured
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    cores = usable_cores()
    threads = max(1, cores // max(1, local_processes))
    if current > 0:
        threads = min(threads, current)
    logger.info(
        "threads: %d (cores this process may use: %d%s)",
        threads,
        cores,
        f", shared by {local_processes} local processes" if local_processes > 1 else "",
    )
    return threads
