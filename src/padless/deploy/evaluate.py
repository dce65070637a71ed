"""``padless evaluate``: a saved model's metrics on new data, with the model or an export.

:func:`evaluate_artifact` reads DATA the way the model's training data was read (the saved
``[data]`` settings, with the model's task, and any ``[data]`` keys the command line sets:
``--text-column``, ``--label-column``, ... or ``--set data.KEY=VALUE``; what a DATA argument
may be is decided by :func:`padless.data.sources.resolve_data`), encodes the chosen split
with the saved input pipeline and label space, and scores it with
:func:`padless.evaluation.runner.run_split` (length-sorted batches, outputs put back in split
order, so the numbers do not depend on the batching). :class:`RunnerModule` puts an exported
file (ONNX Runtime or TorchScript, numpy in and out) behind the model's ``(inputs, lengths) ->
logits`` call, so ``padless export --eval`` scores the export with the same code. Shapes: B
batch, T padded time steps, C outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from padless.config import DataConfig, config_from_dict, with_data
from padless.data.dataset import assign_validation
from padless.data.sources import load_data, resolve_data
from padless.deploy.artifact import load_artifact
from padless.encode.splits import encode_split
from padless.errors import data_error
from padless.evaluation.runner import run_split

logger = logging.getLogger(__name__)


class RunnerModule(nn.Module):
    """A numpy ``(inputs, lengths) -> logits`` runner (an exported file in ONNX Runtime or
    TorchScript, :func:`padless.deploy.backends.backend_runner`) behind the model's tensor
    call: padded inputs (B, T, ...) and lengths (B,) in, logits out."""

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
    data_overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of a saved model on ``data``, a path or a source name read like the model's
    training data (see :func:`padless.data.sources.resolve_data`).

    ``split``: the rows to score (``train`` / ``valid`` / ``test`` / ``all``); default ``test``
    when the data has a test split, else every row. ``backend`` ``"onnx"`` / ``"torchscript"``
    scores an exported file instead of the PyTorch model (``export_file``, default in the
    artifact directory; see :func:`padless.deploy.backends.backend_runner`).
    ``data_overrides``: ``[data]`` keys read differently from training (e.g. ``{"label_column":
    "y"}``, from :func:`padless.config.data_overrides`); rows without a split are train.
    """
    from padless.deploy.backends import backend_runner

    art = load_artifact(artifact_dir)
    model = cast(nn.Module, art.model)  # load_artifact(model=True) always builds the network
    if backend != "eager":
        model = RunnerModule(backend_runner(art, backend, export_file))
    ds = load_data(_data_config(data, art.meta.get("data"), art.labels.task, data_overrides))
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


def _data_config(
    data: str, saved: dict[str, Any] | None, task: str, overrides: Mapping[str, Any] | None
) -> DataConfig:
    """How to read DATA: the training ``[data]`` settings (``saved``), the command line's
    ``overrides`` and the model's ``task``, so labels are read as the model encodes them (a
    regression model's numbers as numbers). One ``label_column`` for a model trained on
    ``label_columns`` is read as a one-column ``label_columns`` (and refused by the labels)."""
    base = config_from_dict({"data": saved}, "config.json").data if saved else DataConfig()
    given = dict(overrides or {})
    if base.label_columns and "label_column" in given and "label_columns" not in given:
        given["label_columns"] = (given.pop("label_column"),)
    if given.get("task", task) != task:
        raise data_error(
            "--set data.task",
            f"the model's task {task!r}",
            repr(given["task"]),
            "leave data.task out: labels are read as the model was trained",
        )
    like = with_data(base, {**given, "task": task}, "the command line")
    return resolve_data(data, like, keep=set(given))
