"""Evaluation: the loss of each task, a model run over an encoded split, and ``padless evaluate``.

Shapes: B batch, T padded time, C outputs. Every split is run in length-sorted batches (little
padding); outputs are put back in split order before metrics are computed, so the numbers do
not depend on the batching.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from padless.config import DataConfig
from padless.data.dataset import assign_validation
from padless.data.sources import SYNTHETIC, load_data
from padless.deploy.artifact import load_artifact
from padless.encode.splits import encode_split
from padless.errors import data_error
from padless.evaluation.runner import run_split

logger = logging.getLogger(__name__)

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
    from padless.deploy.backends import backend_runner

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
