"""Scoring a model: the loss of each task, the metrics, and a model run over a split.

Holds the task losses and running accuracy (``losses``), the metrics of every task
(``metrics``) and :func:`run_split`, which runs a model over an encoded split in
length-sorted batches and scores it (``runner``). Training validates with it and
``padless evaluate`` scores saved models with it.

May import: :mod:`padless.errors`, :mod:`padless.encode`, :mod:`padless.batching`,
:mod:`padless.models`, numpy, torch.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.evaluation.losses import compute_loss, correct_count
    from padless.evaluation.metrics import compute_metrics, format_metrics, roc_auc
    from padless.evaluation.runner import run_split

_EXPORTS = {
    "compute_loss": "losses",
    "correct_count": "losses",
    "compute_metrics": "metrics",
    "format_metrics": "metrics",
    "roc_auc": "metrics",
    "run_split": "runner",
}
__all__ = [
    "compute_loss",
    "compute_metrics",
    "correct_count",
    "format_metrics",
    "roc_auc",
    "run_split",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
