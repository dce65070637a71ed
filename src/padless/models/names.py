"""The architecture's vocabulary: cells, nonlinearities, execution paths, poolings and tasks.

Torch-free on purpose: :mod:`padless.config` validates ``[model]`` and ``data.task`` against
these tuples, and the torch-free edge install imports the config. Every model module checks its
arguments against the same tuples, so a choice exists in one place.
"""

from __future__ import annotations

__all__ = ["CELLS", "EXECUTIONS", "GATES", "NONLINEARITIES", "PATH_KINDS", "POOLINGS", "TASKS"]

CELLS = ("lstm", "gru", "rnn")
#: Gate blocks stacked in ``weight_ih_l{k}`` / ``weight_hh_l{k}`` (rows = GATES[cell] * H).
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
NONLINEARITIES = ("tanh", "relu")  # of the vanilla RNN cell
#: ``padded`` (fused kernels over right-padded input), ``packed`` (PackedSequence),
#: ``reference`` (explicit time x layer loop, the test oracle), ``auto`` (padded here).
EXECUTIONS = ("auto", "padded", "packed", "reference")
POOLINGS = ("last", "mean", "max", "attention")
#: What the head predicts: one label, one of C, any of C, C numbers, or one label per step.
TASKS = ("binary", "multiclass", "multilabel", "regression", "tagging")
#: The fitted linear paths a combined model may mix in (padless.models.mixture).
PATH_KINDS = ("ngram", "rocket")
