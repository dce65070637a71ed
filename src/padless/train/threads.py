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

A fixed count cannot promise more: with 2 threads on 2 cores and another process busy on one
of them, every parallel region waits for the thread that shares its core, and a step ran 0.76x
as fast as with one thread (``benchmarks/thread_contention.py``). So when the count is padless's
own choice (not ``train.num_threads``, ``OMP_NUM_THREADS`` or ``train.deterministic``, whose
results may depend on the count), :class:`ThreadTuner` measures while training: it alternates
that count and one thread step by step for a short probe, keeps one thread only when it was
clearly faster, then probes again after a while, so a run follows the machine's load.
"""

from __future__ import annotations

import logging
import os
import time

import torch

from padless.cores import usable_cores

__all__ = ["ThreadTuner", "choose_threads"]

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


class ThreadTuner:
    """Chooses between ``threads`` and one thread by measured training speed, step by step.

    A probe runs ``probe`` steps with each count, interleaved (so both see the same mix of
    batch lengths and the same load), and compares real tokens per second; one thread is
    chosen only when it was at least ``margin`` times as fast (steps differ in length, and a
    step's fixed costs, such as the optimizer's, make short batches slower per token: a small
    difference is noise, a busy neighbour is not), and kept for ``hold`` steps before the
    next probe. Around every training step: :meth:`start` (sets the count for it), then
    :meth:`stop` with the step's real tokens.
    """

    def __init__(
        self, threads: int, probe: int = 16, hold: int = 400, margin: float = 1.15
    ) -> None:
        self.candidates = (threads, 1)
        self.probe, self.hold, self.margin = probe, hold, margin
        self.chosen = threads
        self._step = 0  # steps into the current probe-and-hold cycle
        self._tokens = [0, 0]
        self._seconds = [0.0, 0.0]
        self._began = 0.0
        self._current = threads

    @property
    def probing(self) -> bool:
        return self._step < 2 * self.probe

    def start(self) -> None:
        """Set the thread count of the next step and start its clock."""
        want = self.candidates[self._step % 2] if self.probing else self.chosen
        if want != self._current:
            torch.set_num_threads(want)
            self._current = want
        self._began = time.perf_counter()

    def stop(self, tokens: int) -> None:
        """Account the step just run (``tokens`` real tokens) and decide after a probe."""
        seconds = time.perf_counter() - self._began
        if self.probing:
            k = self._step % 2
            self._tokens[k] += tokens
            self._seconds[k] += seconds
        self._step += 1
        if self._step == 2 * self.probe:
            self._decide()
        elif self._step >= 2 * self.probe + self.hold:
            self._step, self._tokens, self._seconds = 0, [0, 0], [0.0, 0.0]

    def _decide(self) -> None:
        rates = [t / max(s, 1e-9) for t, s in zip(self._tokens, self._seconds, strict=True)]
        best = self.candidates[1] if rates[1] > self.margin * rates[0] else self.candidates[0]
        if best != self.chosen:
            logger.info(
                "threads: %d now (measured over %d steps each: %d threads ran at %.2fx the "
                "speed of 1)",
                best,
                self.probe,
                self.candidates[0],
                rates[0] / max(rates[1], 1e-9),
            )
        self.chosen = best
