"""The batch-budget cut: length-sorted items into batches of bounded padded size.

Shapes: B batch, T time steps (padded length: the batch's longest item). A right-padded batch
computes B × T steps, so a budget on B × T bounds the memory and time of one model call
whatever the lengths.

:func:`cut_to_budget` is the one greedy cut that both places batching by a step budget use:
:class:`~padless.batching.TokenBudgetSampler` (training; ``max_tokens``, with a cap on B) and
the server's :class:`~padless.serve.MicroBatcher` (``max_batch_tokens``). Items arrive sorted
by ascending cost, so a batch's padded size is its count times its last item's cost; each batch
takes as many items as fit, which gives the fewest batches for that order. :func:`padded_steps`
gives the cost the sampler charges a length (at least one step, rounded up to the collate
padding multiple).

numpy only, no torch: the server's ONNX path (the torch-free edge install) imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from padless.errors import format_error

__all__ = ["cut_to_budget", "padded_steps"]


def padded_steps(lengths: Any, pad_to_multiple_of: int | None = None) -> np.ndarray:
    """The steps each length occupies in a padded batch, int64: a zero length counts as one
    step, and every length is rounded up to a multiple of ``pad_to_multiple_of`` when given
    (as :func:`~padless.batching.batch` pads T)."""
    steps = np.maximum(np.asarray(lengths, dtype=np.int64), 1)
    if pad_to_multiple_of:
        steps = -(-steps // pad_to_multiple_of) * pad_to_multiple_of
    return steps


def cut_to_budget(costs: Any, budget: int, *, max_count: int | None = None) -> list[slice]:
    """Cut items of ascending ``costs`` (steps each, >= 0) into consecutive batches.

    Returns one slice per batch, in order, covering ``range(len(costs))``. Each batch is the
    longest run of the next items whose padded size ``count * costs[last]`` stays within
    ``budget`` and whose count is at most ``max_count`` (no cap when None); an item that does
    not fit the budget even alone forms a batch of its own (with ``budget < 1``, every item of
    positive cost does). Raises ``ValueError`` when ``costs`` is not a 1-D ascending array of
    non-negative steps or ``max_count`` is below 1.
    """
    cost = _check(costs, max_count)
    n = cost.size
    cuts: list[slice] = []
    start = 0
    while start < n:
        most = n - start if max_count is None else min(max_count, n - start)
        first = int(cost[start])
        if first > 0:  # every later item costs at least as much: at most budget // first fit
            most = max(1, min(most, budget // first))
        # A batch of k items pads to k * cost[start + k - 1], non-decreasing in k since costs
        # ascend, so a binary search finds the most that fit.
        padded = np.arange(1, most + 1, dtype=np.int64) * cost[start : start + most]
        k = max(1, int(np.searchsorted(padded, budget, side="right")))
        cuts.append(slice(start, start + k))
        start += k
    return cuts


def _check(costs: Any, max_count: int | None) -> np.ndarray:
    cost = np.asarray(costs, dtype=np.int64)
    if cost.ndim != 1:
        raise ValueError(
            format_error("cut_to_budget costs", "a 1-D array of steps", f"shape {cost.shape}")
        )
    if cost.size and int(cost[0]) < 0:
        raise ValueError(format_error("cut_to_budget costs[0]", "steps >= 0", str(int(cost[0]))))
    falls = np.flatnonzero(np.diff(cost) < 0)
    if falls.size:
        bad = int(falls[0]) + 1
        raise ValueError(
            format_error(
                f"cut_to_budget costs[{bad}]",
                "ascending steps",
                f"{int(cost[bad])} after {int(cost[bad - 1])}",
                "sort the items by length first",
            )
        )
    if max_count is not None and max_count < 1:
        raise ValueError(
            format_error("cut_to_budget max_count", "None or at least 1", repr(max_count))
        )
    return cost
