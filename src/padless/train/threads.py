"""How many threads a run computes with: the cores this process may really use.

torch's default intra-op thread count is the machine's physical core count. In a container
with a CPU quota (``docker run --cpus 2`` on a 32-core host), or a process pinned to a few
cores (``taskset``, a batch scheduler), that oversubscribes: 32 threads share 2 cores' worth of
time, each parallel region waits for its slowest thread, and the kernel throttles the quota.
So, unless the user says otherwise, a run uses :func:`padless.cores.usable_cores` (never more
than torch's default): the CPUs in this process's affinity mask, capped by the cgroup CPU quota (v2
``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, rounded down, at least 1),
shared among the processes of this node under torchrun. ``train.num_threads`` or
``OMP_NUM_THREADS`` (torchrun sets it to 1 per rank by default) decide instead when given.

The fused kernels parallelise through ``at::parallel_for``, torch's own pool, so this one
count governs them too: there is no second pool to oversubscribe.
"""

from __future__ import annotations

import logging
import os

from padless.cores import usable_cores

__all__ = ["choose_threads"]

logger = logging.getLogger(__name__)


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
