"""Encoded train / valid / test splits: the data stage of training, from a config to model
inputs.

:func:`prepare` reads the dataset a ``[data]`` table names (:func:`padless.data.load_data`),
assigns the validation split, fits the labels (:class:`LabelSpace`) and the input pipeline
(:class:`InputPipeline`) on the train rows only, and encodes every split. A :class:`Split`
keeps each example's dataset row, so errors and per-row outputs point back at the source;
:func:`encode_split` encodes any rows with a saved pipeline (``padless evaluate``). Per-step
tag targets must have one tag per step (T tags for T steps); a mismatch raises naming the row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.dataset import Dataset, assign_validation
from padless.data.sources import load_data
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline, raw_inputs
from padless.errors import data_error

logger = logging.getLogger(__name__)


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
