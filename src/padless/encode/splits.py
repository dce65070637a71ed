"""Input pipeline: a :class:`~padless.config.DataConfig` → encoded train / valid / test splits,
and the fitted transform that is saved with the model so inference encodes exactly as training.

Three input kinds (``InputPipeline.kind``):

* ``text``: raw strings → :class:`~padless.text.TextEncoder` (clean, tokenize, vocabulary fitted
  on train, truncate) → int64 ids (T,).
* ``ids``: integer token ids given directly (e.g. :func:`padless.datasets.sum_mod`): checked
  against the vocabulary size seen in train; 0 is padding and never a valid id.
* ``numeric``: float features (T, F) → optional sign(x)·log(1 + |x|/s) (``data.log_transform``,
  ``data.log_scale`` s)
  → :class:`~padless.timeseries.Normalizer` fitted on the train split only
  (``data.normalize``) → float32 (T, F).

Sequences longer than ``data.max_steps`` (numeric / ids) or ``text.max_length`` (text) are cut,
keeping the head; both are recorded in the artifact. ``data.patch_size = k`` (numeric) then
folds every k consecutive steps into one step of k*F features (the last, partial patch repeats
its final step), so long raw signals become k times shorter sequences; T' = ceil(T / k).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.dataset import assign_validation
from padless.data.sources import Dataset, load_data
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline, raw_inputs
from padless.errors import data_error

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------ splits
@dataclass
class Split:
    """One encoded split: model inputs, label targets and the dataset row of each example."""

    inputs: list
    targets: list
    rows: list[int]

    def __len__(self) -> int:
        return len(self.inputs)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.inputs), dtype=np.int64, count=len(self.inputs))

    def samples(self, idx: Sequence[int]) -> list[tuple[Any, Any]]:
        return [(self.inputs[i], self.targets[i]) for i in idx]


@dataclass
class Prepared:
    """Everything the data stage produces for training."""

    dataset: Dataset
    pipeline: InputPipeline
    labels: LabelSpace
    splits: dict[str, Split]


def encode_split(
    ds: Dataset, pipeline: InputPipeline, labels: LabelSpace, rows: list[int], name: str
) -> Split:
    raw = raw_inputs(ds)
    where = f"{ds.source} ({name} split)"
    inputs = pipeline.encode([raw[i] for i in rows], where=where, rows=rows)
    targets = [labels.encode(ds.labels[i], where=f"{ds.source} row {i}, label") for i in rows]
    if labels.task == "tagging":
        for k, (x, t) in enumerate(zip(inputs, targets, strict=True)):
            if len(t) < len(x) or (len(t) > len(x) and pipeline.max_steps is None):
                raise data_error(
                    f"{ds.source} row {rows[k]}, tags",
                    f"{len(x)} tags (one per step)",
                    f"{len(t)} tags",
                    "give exactly one tag per step",
                )
            targets[k] = t[: len(x)]
    return Split(inputs, targets, list(rows))


def prepare(cfg: Config) -> Prepared:
    """Load the data, assign the validation split, fit the pipeline and labels on train, encode."""
    ds = load_data(cfg.data)
    names = assign_validation(ds.splits, cfg.data.valid_fraction, cfg.train.seed)
    train_rows = [i for i, s in enumerate(names) if s == "train"]
    if not train_rows:
        raise data_error(
            ds.source,
            "rows in the train split",
            "none",
            "check the split column values (train / valid / test)",
        )
    labels = LabelSpace.from_labels(
        [ds.labels[i] for i in train_rows],
        where=f"{ds.source}, label column (train split)",
        task=cfg.data.task,
    )
    pipeline = InputPipeline.fit(ds, train_rows, cfg)
    splits = {}
    for name in ("train", "valid", "test"):
        rows = [i for i, s in enumerate(names) if s == name]
        if rows:
            splits[name] = encode_split(ds, pipeline, labels, rows, name)
    counts = {k: len(v) for k, v in splits.items()}
    logger.info(
        "data: %s rows %s, %s input, task %s with %d label(s)",
        ds.source,
        counts,
        pipeline.kind,
        labels.task,
        len(labels.classes),
    )
    return Prepared(ds, pipeline, labels, splits)
