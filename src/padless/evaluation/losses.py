"""The loss of each task and the running accuracy the training loop reports.

Shapes: B batch, T time steps (padded length), C outputs. Targets come from
:func:`padless.batching.make_batch`: per-step tag targets are ``IGNORE_INDEX`` at padded steps,
so the tagging loss and accuracy count real steps only.
"""

from __future__ import annotations

from torch import Tensor, nn

from padless.batching.batch import IGNORE_INDEX
from padless.errors import data_error


def compute_loss(logits: Tensor, targets: Tensor, task: str) -> Tensor:
    """The training loss of ``task``: logits (B, C) or (B, T, C) for tagging.

    binary: BCE-with-logits on (B, 1); multiclass: cross-entropy; multilabel: BCE per label;
    regression: MSE averaged over every target of every row (targets (B,) for one target, or
    (B, C) for C targets, against logits (B, C)); tagging: cross-entropy over real steps only
    (padded targets are -100).
    """
    logits = logits.float()
    if task == "binary":
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    if task == "multiclass":
        return nn.functional.cross_entropy(logits, targets)
    if task == "multilabel":
        return nn.functional.binary_cross_entropy_with_logits(logits, targets.float())
    if task == "regression":
        out = logits.reshape(targets.shape[0], -1)
        want = targets.float().reshape(targets.shape[0], -1)
        if out.shape != want.shape:  # never broadcast one target over several outputs
            raise data_error(
                "regression loss",
                f"{out.shape[1]} target(s) per row, one per output",
                f"targets of shape {tuple(targets.shape)}",
                "give every row one value per target (data.label_columns)",
            )
        return nn.functional.mse_loss(out, want)
    if task == "tagging":
        t = targets[:, : logits.shape[1]]
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), t.reshape(-1), ignore_index=IGNORE_INDEX
        )
    raise ValueError(f"unknown task {task!r}")


def correct_count(logits: Tensor, targets: Tensor, task: str) -> tuple[int, int]:
    """(correct, counted) for a running training accuracy; (0, 0) for regression."""
    if task == "binary":
        return int(((logits[:, 0] > 0).long() == targets).sum()), len(targets)
    if task == "multiclass":
        return int((logits.argmax(-1) == targets).sum()), len(targets)
    if task == "multilabel":
        return int(((logits > 0).float() == targets).all(-1).sum()), len(targets)
    if task == "tagging":
        t = targets[:, : logits.shape[1]]
        real = t != IGNORE_INDEX
        return int(((logits.argmax(-1) == t) & real).sum()), int(real.sum())
    return 0, 0
