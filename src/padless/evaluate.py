"""Evaluation: the loss of each task, a model run over an encoded split, and ``padless evaluate``.

Shapes: B batch, T padded time, C outputs. Every split is run in length-sorted batches (little
padding); outputs are put back in split order before metrics are computed, so the numbers do
not depend on the batching.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from padless.artifact import load_artifact
from padless.batching import Batch, BucketBatchSampler, collate
from padless.config import DataConfig
from padless.data import assign_validation
from padless.errors import data_error
from padless.labels import LabelSpace
from padless.metrics import compute_metrics
from padless.pipeline import SYNTHETIC, Split, encode_split, load_data

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # padded steps of per-step tag targets


def make_batch(split: Split, idx, task: str, pad_to_multiple_of: int | None = None) -> Batch:
    """Collate the examples ``idx`` of ``split`` (per-step labels for tagging)."""
    return collate(
        split.samples(idx),
        per_step_labels=task == "tagging",
        label_pad_value=IGNORE_INDEX,
        pad_to_multiple_of=pad_to_multiple_of,
    )


def compute_loss(logits: Tensor, targets: Tensor, task: str) -> Tensor:
    """The training loss of ``task``: logits (B, C) or (B, T, C) for tagging.

    binary: BCE-with-logits on (B, 1); multiclass: cross-entropy; multilabel: BCE per label;
    regression: MSE; tagging: cross-entropy over real steps only (padded targets are -100).
    """
    logits = logits.float()
    if task == "binary":
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    if task == "multiclass":
        return nn.functional.cross_entropy(logits, targets)
    if task == "multilabel":
        return nn.functional.binary_cross_entropy_with_logits(logits, targets.float())
    if task == "regression":
        return nn.functional.mse_loss(
            logits.reshape(targets.shape[0], -1), targets.float().reshape(targets.shape[0], -1)
        )
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
    """Loss and task metrics (:func:`padless.metrics.compute_metrics`) of ``model`` on ``split``.

    Under ``torchrun`` (``world``: a :class:`padless.distributed.World` of several ranks) each
    rank runs every ``world.size``-th row and the outputs are gathered, so every rank returns
    the metrics a single process would.
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
        outputs = [None] * len(split)
        for part_rows, part_out, _, _ in parts:
            for i, out in zip(part_rows, part_out, strict=True):
                outputs[i] = out
        total_loss, weight = sum(p[2] for p in parts), sum(p[3] for p in parts)
    targets = _targets_array(split, task)
    if task == "tagging":
        out_arr = np.concatenate(outputs)
    else:
        out_arr = np.stack(outputs)
    metrics = compute_metrics(task, targets, out_arr, num_classes=len(labels.classes))
    return {"loss": total_loss / max(weight, 1), **metrics}


def _outputs(model, split, rows, task, batch_size, device, autocast, desc, quiet):
    """Outputs of ``rows`` of ``split`` (in ``rows`` order), the summed loss and its weight."""
    lengths = split.lengths()[rows]
    sampler = BucketBatchSampler(lengths=lengths, batch_size=batch_size, shuffle=False)
    outputs: list[np.ndarray | None] = [None] * len(rows)
    total_loss, weight = 0.0, 0
    bar = tqdm(sampler, desc=desc, disable=True if quiet else None, leave=False, unit="batch")
    for local in bar:
        idx = [int(rows[k]) for k in local]
        batch = make_batch(split, idx, task).to(device)
        with autocast():
            logits = model(batch.inputs, batch.lengths)
        n = batch.num_tokens if task == "tagging" else len(idx)
        total_loss += float(compute_loss(logits, batch.labels, task)) * n
        weight += n
        out = logits.float().cpu().numpy()
        for k, j in enumerate(local):
            outputs[j] = out[k, : int(batch.lengths[k])] if task == "tagging" else out[k]
    return outputs, total_loss, weight


def _targets_array(split: Split, task: str) -> np.ndarray:
    if task == "tagging":
        return np.concatenate([np.asarray(t, dtype=np.int64) for t in split.targets])
    dtype = np.float64 if task == "regression" else np.int64
    return np.asarray(split.targets, dtype=dtype)


# --------------------------------------------------------------------------- padless evaluate
def data_config_for(saved: dict[str, Any] | None, data: str) -> DataConfig:
    """The :class:`DataConfig` that reads ``data`` the way the model's training data was read.

    ``data`` is a path (table, IMDB tarball / CSV / folder, ``.ts`` file or UEA folder) or a
    source name (``imdb``, ``imdb-sample``, or the synthetic task the model was trained on,
    regenerated from the saved settings).
    """
    base = DataConfig(**saved) if saved else DataConfig()
    if data in ("imdb", "imdb-sample"):
        return dataclasses.replace(base, source=data, path=None, limit=None)
    if data in SYNTHETIC:
        if base.source != data:
            raise data_error(
                "DATA",
                f"the model's own data source {base.source!r} or a path",
                repr(data),
                "pass the file or folder to evaluate on",
            )
        return dataclasses.replace(base, limit=None)
    if not Path(data).exists():
        raise data_error(
            "DATA",
            "an existing file or folder (or imdb / imdb-sample)",
            f"{data!r}: no such path",
            "check the path",
        )
    source = base.source
    if source in ("imdb", "imdb-sample"):
        path = Path(data)
        archive = path.is_dir() or path.name.lower().endswith((".tar.gz", ".tgz", ".tar"))
        source = "imdb" if archive else "table"
        if source == "table":
            base = dataclasses.replace(
                base, text_column="text", label_column="label", split_column="split"
            )
    if source in SYNTHETIC:
        raise data_error(
            "DATA",
            f"{source!r} (the model was trained on synthetic data)",
            repr(data),
            f"pass {source}",
        )
    return dataclasses.replace(base, source=source, path=data, test_path=None, limit=None)


class RunnerModule(nn.Module):
    """A numpy ``(inputs, lengths) -> logits`` runner (an exported file in ONNX Runtime or
    TorchScript, :func:`padless.predict.backend_runner`) behind the model's tensor call."""

    def __init__(self, run: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        super().__init__()
        self.run = run

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        return torch.from_numpy(self.run(inputs.cpu().numpy(), lengths.cpu().numpy()))


def evaluate_artifact(
    artifact_dir: str | Path,
    data: str,
    *,
    split: str | None = None,
    batch_size: int = 256,
    quiet: bool = True,
    backend: str = "eager",
    export_file: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of a saved model on ``data`` (see :func:`data_config_for`).

    ``split``: the rows to score (``train`` / ``valid`` / ``test`` / ``all``); default ``test``
    when the data has a test split, else every row. ``backend`` ``"onnx"`` / ``"torchscript"``
    scores an exported file instead of the PyTorch model (``export_file``, default in the
    artifact directory; see :func:`padless.predict.backend_runner`).
    """
    from padless.predict import backend_runner

    art = load_artifact(artifact_dir)
    model = (
        art.model if backend == "eager" else RunnerModule(backend_runner(art, backend, export_file))
    )
    cfg = data_config_for(art.meta.get("data"), data)
    ds = load_data(cfg)
    names = assign_validation(ds.splits, 0.0, 0)
    wanted = split or ("test" if "test" in names else "all")
    rows = [i for i, s in enumerate(names) if wanted == "all" or s == wanted]
    if not rows:
        raise data_error(
            f"{ds.source}",
            f"rows in split {wanted!r}",
            f"splits {sorted(set(names))}",
            "pass --split all or a split it has",
        )
    enc = encode_split(ds, art.pipeline, art.labels, rows, wanted)
    metrics = run_split(model, enc, art.labels, batch_size=batch_size, desc=wanted, quiet=quiet)
    return {
        "data": ds.source,
        "split": wanted,
        "backend": backend,
        "task": art.labels.task,
        "labels": list(art.labels.classes),
        **metrics,
    }
