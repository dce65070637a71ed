"""Ragged batches with as little padding as possible.

Holds :func:`collate` and :class:`Batch` (``batch``), the length-bucketed and token-budget
samplers, deterministic per seed and epoch and sharded by rank (``samplers``), the greedy cut of
length-sorted items into batches within a padded-step budget, shared by the token-budget
sampler and the server's micro-batcher (``budget``, torch-free), and the padding accounting
with the ``padless lengths`` report (``waste``).

May import: :mod:`padless.errors`, numpy, torch (``budget`` imports no torch).
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.batching.batch import IGNORE_INDEX, Batch, collate, make_batch
    from padless.batching.budget import cut_to_budget, padded_steps
    from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
    from padless.batching.waste import (
        analyze_lengths,
        format_report,
        padding_totals,
        padding_waste,
        plot_histogram,
    )

_EXPORTS = {
    "Batch": "batch",
    "collate": "batch",
    "make_batch": "batch",
    "IGNORE_INDEX": "batch",
    "cut_to_budget": "budget",
    "padded_steps": "budget",
    "BucketBatchSampler": "samplers",
    "TokenBudgetSampler": "samplers",
    "padding_totals": "waste",
    "padding_waste": "waste",
    "analyze_lengths": "waste",
    "format_report": "waste",
    "plot_histogram": "waste",
}
__all__ = [
    "Batch",
    "BucketBatchSampler",
    "IGNORE_INDEX",
    "TokenBudgetSampler",
    "analyze_lengths",
    "collate",
    "cut_to_budget",
    "format_report",
    "make_batch",
    "padding_totals",
    "padded_steps",
    "padding_waste",
    "plot_histogram",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
