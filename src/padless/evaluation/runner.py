"""Running a model over an encoded split and scoring it: :func:`run_split`.

Shapes: B batch, T time steps (padded length), C outputs. The split is run in length-sorted
batches (:class:`~padless.batching.BucketBatchSampler` without shuffling: little padding), the
outputs are put back in split order and the task metrics
(:func:`padless.evaluation.metrics.compute_metrics`) computed on them, so the numbers do not
depend on the batching. Training validates with it each epoch; ``padless evaluate``
(:mod:`padless.deploy.evaluate`) scores saved models with it. Under ``torchrun`` each rank runs
a share of the rows and the outputs are gathered, so every rank returns the same metrics.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from padless.batching.batch import make_batch
from padless.batching.samplers import BucketBatchSampler
from padless.encode.labels import LabelSpace
from padless.encode.splits import Split
from padless.evaluation.losses import compute_loss
from padless.evaluation.metrics import compute_metrics
from padless.progress import show_bars

logger = logging.getLogger(__name__)


@torch.no_grad()
def run_split(
    model: nn.Module,
    split: Split,
    labels: LabelSpace,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    desc: str = "eval",
    quiet: bool = True,
    world=None,
) -> dict[str, Any]:
    """Loss and task metrics (:func:`~padless.evaluation.metrics.compute_metrics`) of ``model``
    on ``split``.

    Under ``torchrun`` (``world``: a :class:`padless.train.distributed.World` of several
    ranks) each rank runs every ``world.size``-th row and the outputs are gathered, so every
    rank returns the metrics a single process would.
    """
    model.eval()
    task = labels.task
    rows = np.arange(len(split))
    if world is not None and world.distributed:
        rows = rows[world.rank :: world.size]
    outputs, total_loss, weight = _outputs(
        model, split, rows, task, batch_size, device, autocast, desc, quiet
    )
    if world is not None and world.distributed:
        parts = world.gather((rows, outputs, total_loss, weight))
        by_row: dict[int, np.ndarray] = {}
        for part_rows, part_out, _, _ in parts:
            by_row.update(zip((int(i) for i in part_rows), part_out, strict=True))
        outputs = [by_row[i] for i in range(len(split))]
        total_loss, weight = sum(p[2] for p in parts), sum(p[3] for p in parts)
    targets = targets_array(split, task)
    if task == "tagging":
        out_arr = np.concatenate(outputs)
    else:
        out_arr = np.stack(outputs)
    metrics = compute_metrics(task, targets, out_arr, num_classes=len(labels.classes))
    return {"loss": total_loss / max(weight, 1), **metrics}


@torch.no_grad()
def split_outputs(
    model: nn.Module,
    split: Split,
    task: str,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The raw outputs of ``model`` on every example of ``split``, in split order: (N, C)
    (not tagging). For choices made on a split's outputs (padless.train.combination)."""
    model.eval()
    rows = np.arange(len(split))
    outputs, _, _ = _outputs(
        model, split, rows, task, batch_size, device, contextlib.nullcontext, "outputs", True
    )
    return np.stack(outputs)


def _outputs(
    model: nn.Module,
    split: Split,
    rows: np.ndarray,
    task: str,
    batch_size: int,
    device: torch.device | str,
    autocast: Callable[[], contextlib.AbstractContextManager],
    desc: str,
    quiet: bool,
) -> tuple[list[np.ndarray], float, int]:
    """Outputs of ``rows`` of ``split`` (in ``rows`` order), the summed loss and its weight."""
    lengths = split.lengths()[rows]
    sampler = BucketBatchSampler(lengths=lengths, batch_size=batch_size, shuffle=False)
    by_position: dict[int, np.ndarray] = {}
    total_loss, weight = 0.0, 0
    bar = tqdm(sampler, desc=desc, disable=not show_bars(quiet), leave=False, unit="batch")
    for local in bar:
        idx = [int(rows[k]) for k in local]
        batch = make_batch(split, idx, task).to(device)
        with autocast():
            logits = model(batch.inputs, batch.lengths)
        n = batch.num_tokens if task == "tagging" else len(idx)
        assert batch.labels is not None  # an encoded split has a target for every example
        total_loss += float(compute_loss(logits, batch.labels, task)) * n
        weight += n
        out = logits.float().cpu().numpy()
        for k, j in enumerate(local):
            by_position[j] = out[k, : int(batch.lengths[k])] if task == "tagging" else out[k]
    return [by_position[j] for j in range(len(rows))], total_loss, weight


def targets_array(split: Split, task: str) -> np.ndarray:
    """The targets of ``split`` as :func:`compute_metrics` takes them: (N,) class ids, (N, C)
    multilabel indicators or regression values, tagging's (M,) real steps concatenated."""
    if task == "tagging":
        return np.concatenate([np.asarray(t, dtype=np.int64) for t in split.targets])
    dtype = np.float64 if task == "regression" else np.int64
    return np.asarray(split.targets, dtype=dtype)
