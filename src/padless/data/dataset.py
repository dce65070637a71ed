"""The two in-memory datasets every reader returns, and the train / valid split rule.

* :class:`TextDataset`: raw strings plus labels (text classification).
* :class:`SequenceDataset`: numeric sequences, ``sequences[i]`` a float32 array of shape
  (T_i, F), T_i time steps of F features; the synthetic digit tasks store int64 token ids of
  shape (T_i,) instead.

``Dataset`` is either. Labels stay as written (strings, lists of strings for multi-label or
per-step tags, floats or ``{name: float}`` for regression) until
:class:`padless.encode.labels.LabelSpace` maps them to ids, so a data file never decides the
label order by accident. Readers raise on bad rows (naming the file, row and field) unless
asked to skip them; what was skipped on purpose is counted in ``dataset.skipped``.
:func:`assign_validation` completes the split column.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from padless.errors import data_error

logger = logging.getLogger(__name__)

#: A class name, a regression target, a list (multi-label classes or per-step tags), or several
#: regression targets by name (``{column: value}``, from ``data.label_columns``).
Label = str | float | list[str] | dict[str, float]


@dataclass
class TextDataset:
    """Texts with labels; ``splits[i]`` is train, valid, test or None when unknown."""

    texts: list[str]
    labels: list[Label]
    splits: list[str | None]
    source: str = "<memory>"
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int] | np.ndarray) -> TextDataset:
        idx = [int(i) for i in indices]
        return TextDataset(
            texts=[self.texts[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            source=self.source,
            skipped=dict(self.skipped),
        )

    def split(self, name: str) -> TextDataset:
        return self.subset([i for i, s in enumerate(self.splits) if s == name])


@dataclass
class SequenceDataset:
    """Numeric sequences: ``sequences[i]`` is float32 (T_i, F); labels are strings (or None)."""

    sequences: list[np.ndarray]
    labels: list[Label | None]
    splits: list[str | None]
    ids: list[str]
    feature_names: list[str]
    source: str = "<memory>"
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    def lengths(self) -> np.ndarray:
        return np.array([s.shape[0] for s in self.sequences], dtype=np.int64)

    def subset(self, indices: list[int] | np.ndarray) -> SequenceDataset:
        idx = [int(i) for i in indices]
        return SequenceDataset(
            sequences=[self.sequences[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            ids=[self.ids[i] for i in idx],
            feature_names=list(self.feature_names),
            source=self.source,
            skipped=dict(self.skipped),
        )

    def split(self, name: str) -> SequenceDataset:
        return self.subset([i for i, s in enumerate(self.splits) if s == name])


Dataset = TextDataset | SequenceDataset


def assign_validation(splits: list[str | None], fraction: float, seed: int) -> list[str]:
    """Rows without a split become ``train``; if no ``valid`` rows exist, move a seeded
    ``fraction`` of train rows to ``valid`` (never touching ``test``)."""
    out = [s if s is not None else "train" for s in splits]
    unknown = sorted({s for s in out} - {"train", "valid", "validation", "dev", "test"})
    if unknown:
        raise data_error(
            "split column",
            "train, valid (or validation/dev) or test",
            repr(unknown),
            "rename the split values",
        )
    out = ["valid" if s in ("validation", "dev") else s for s in out]
    if "valid" not in out and fraction > 0:
        train_idx = np.array([i for i, s in enumerate(out) if s == "train"])
        rng = np.random.default_rng(seed)
        n_valid = int(round(len(train_idx) * fraction))
        for i in rng.permutation(train_idx)[:n_valid]:
            out[int(i)] = "valid"
    return out


def assign_validation_codes(
    codes: np.ndarray, values: list[str | None], fraction: float, seed: int
) -> np.ndarray:
    """:func:`assign_validation` for splits given compactly: row ``i``'s split is
    ``values[codes[i]]``. Returns int8 codes 0 train, 1 valid, 2 test, the very rows
    :func:`assign_validation` gives (the same draws), in memory a byte per row."""
    names = assign_validation(list(values), 0.0, seed)  # checks and renames the values
    table = np.array([("train", "valid", "test").index(n) for n in names], dtype=np.int8)
    out = table[codes] if len(values) else np.zeros(len(codes), dtype=np.int8)
    if not (out == 1).any() and fraction > 0:
        train_idx = np.flatnonzero(out == 0)
        rng = np.random.default_rng(seed)
        n_valid = int(round(len(train_idx) * fraction))
        out[rng.permutation(train_idx)[:n_valid]] = 1
    return out
