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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.dataset import Dataset, assign_validation
from padless.data.sources import load_data
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline, raw_inputs
from padless.encode.text import truncate
from padless.errors import data_error

logger = logging.getLogger(__name__)


@dataclass
class Split:
    """One encoded split: model inputs, label targets and the dataset row of each example."""

    inputs: Sequence[Any]
    targets: Sequence[Any]
    rows: Sequence[int]

    def __len__(self) -> int:
        return len(self.inputs)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.inputs), dtype=np.int64, count=len(self.inputs))

    def samples(self, idx: Sequence[int] | np.ndarray) -> list[tuple[Any, Any]]:
        return [(self.inputs[i], self.targets[i]) for i in idx]


@dataclass
class Prepared:
    """Everything the data stage produces for training: where the data came from
    (``source``), the fitted pipeline and labels, the encoded splits (in memory, or
    memory-mapped from the cache: :mod:`padless.encode.prepared`) and the rows skipped on
    request while reading."""

    source: str
    pipeline: InputPipeline
    labels: LabelSpace
    splits: dict[str, Split]
    skipped: dict[str, int] = field(default_factory=dict)


def encode_split(
    ds: Dataset, pipeline: InputPipeline, labels: LabelSpace, rows: list[int], name: str
) -> Split:
    raw = raw_inputs(ds)
    where = f"{ds.source} ({name} split)"
    inputs = pipeline.encode([raw[i] for i in rows], where=where, rows=rows)
    targets = [labels.encode(ds.labels[i], where=f"{ds.source} row {i}, label") for i in rows]
    if labels.task == "tagging":
        targets = _step_tags(ds, pipeline, rows, inputs, targets)
    return Split(inputs, targets, list(rows))


def _step_tags(
    ds: Dataset, pipeline: InputPipeline, rows: list[int], inputs: list, tags: list
) -> list:
    """Per-step tags cut as their inputs were: text needs one tag per token before
    truncation (then cut by ``text.truncation``); numeric input one per step kept, extra tags
    allowed only past ``data.max_steps``."""
    if pipeline.kind == "text":
        assert pipeline.text is not None  # a text pipeline holds its encoder
        full = pipeline.encode([raw_inputs(ds)[i] for i in rows], rows=rows, cut=False)
        t = pipeline.text.config
        steps = [len(x) for x in full]
    else:
        steps = [len(x) for x in inputs]
    out = []
    for k, (x, tag) in enumerate(zip(inputs, tags, strict=True)):
        n = steps[k]
        if len(tag) < n or (
            len(tag) > n and (pipeline.kind == "text" or pipeline.max_steps is None)
        ):
            raise data_error(
                f"{ds.source} row {rows[k]}, tags",
                f"{n} tags (one per step)",
                f"{len(tag)} tags",
                "give exactly one tag per step",
            )
        if pipeline.kind == "text":
            kept = truncate(list(range(n)), t.max_length, t.truncation)
            out.append(np.asarray(tag)[kept])
        else:
            out.append(tag[: len(x)])
    return out


def prepare_in_memory(cfg: Config) -> Prepared:
    """Load the data, assign the validation split, fit the pipeline and labels on train, and
    encode every split, all in memory (:func:`padless.encode.prepared.prepare` caches it)."""
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
    return Prepared(ds.source, pipeline, labels, splits, dict(ds.skipped))
