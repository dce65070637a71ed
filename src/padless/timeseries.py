"""Readers for numeric time series and the per-feature :class:`Normalizer`.

Shapes: every reader returns a :class:`~padless.data.SequenceDataset` whose ``sequences[i]`` is a
float32 array of shape ``(T_i, F)`` - time steps first, one column per feature (channel).
``T_i`` differs between sequences; ``F`` is the same for all.

* :func:`read_ts` / :func:`read_ts_pair` - the UEA/UCR ``.ts`` format (``@`` header lines, then
  one case per line: dimensions separated by ``:``, values by ``,``, the class label last).
* :func:`read_long_table` - a "long" CSV/TSV/Parquet table with one row per time step.
* :class:`Normalizer` / :func:`fit_normalizer` - per-feature standardisation fitted on train only.

Non-finite values (``?``, NaN, inf) raise a :class:`~padless.errors.DataError` naming the file,
line / sequence, feature and time step, unless ``nan_policy`` is ``"drop_steps"`` (drop every time
step holding one) or ``"zero"`` (replace them by 0); both are counted in ``dataset.skipped``
(``nan_steps_dropped`` / ``nan_values_zeroed``) and logged. Sequences with no time steps (also
after dropping) raise, or with ``skip_empty=True`` are counted in ``skipped["empty_sequences"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import SequenceDataset
from .errors import data_error, format_error

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_steps", "zero")
ENGINES = ("padless", "aeon")
_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}
_SPLITS |= dict.fromkeys(("valid", "validation", "val", "dev"), "valid")
_MISSING_TOKENS = {"", "?", "na", "n/a", "nan", "null"}
_NAN_FIX = (
    'clean the data, or pass nan_policy="drop_steps" (drop time steps containing NaN/inf) '
    'or nan_policy="zero" (replace NaN/inf by 0)'
)
_EMPTY_FIX = "remove the sequence from the file, or pass skip_empty=True to skip and count it"
_LABEL_FIX = "fix the label or add it to the '@classLabel' header line"
Cases = list[tuple[int | None, np.ndarray, str | None]]  # (line number, (T, F) values, label)


# ----------------------------------------------------------------------------- shared helpers
def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(format_error(f"argument {name}", f"one of {list(choices)}", repr(value)))


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        parent = path.parent
        listing = sorted(p.name for p in parent.iterdir())[:20] if parent.is_dir() else []
        got = f"no such file (directory {str(parent)!r} holds {listing})"
        raise data_error(str(path), what, got, "check the path")


def _normalize_split(value: Any, where: str) -> str | None:
    """Map a split name (or alias such as ``validation``) to train / valid / test; '' -> None."""
    text = "" if value is None else str(value).strip()
    if text and text.lower() not in _SPLITS:
        raise data_error(
            where,
            "a split name 'train', 'valid' or 'test' (or empty)",
            repr(value),
            "rename the split (validation/val/dev map to 'valid')",
        )
    return _SPLITS[text.lower()] if text else None


class _Builder:
    """Applies the NaN / empty policies and collects the dataset rows."""

    def __init__(self, source: str, feature_names: list[str], nan_policy: str, skip_empty: bool):
        self.source, self.feature_names = source, feature_names
        self.nan_policy, self.skip_empty = nan_policy, skip_empty
        self.skipped: dict[str, int] = {}
        self.cols: tuple[list, list, list, list] = ([], [], [], [])  # sequences, labels, splits, ids

    def _count(self, key: str, n: int) -> None:
        if n:
            self.skipped[key] = self.skipped.get(key, 0) + int(n)

    def add(self, arr, seq_id: str, label, split, where: str, describe: Callable) -> None:
        """Add one ``(T, F)`` sequence; ``where`` names it, ``describe(t, f)`` one value of it."""
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        bad = ~np.isfinite(arr)
        got = "0 time steps"
        if bad.any() and self.nan_policy == "raise":
            t, f = (int(i) for i in np.argwhere(bad)[0])
            value = float(arr[t, f])
            shown = str(value) if np.isnan(value) else f"{value} (or a value beyond float32 range)"
            raise data_error(describe(t, f), "a finite number", shown, _NAN_FIX)
        if bad.any() and self.nan_policy == "drop_steps":
            keep = ~bad.any(axis=1)
            self._count("nan_steps_dropped", int((~keep).sum()))
            got += f" (after dropping {int((~keep).sum())} steps with NaN/inf)"
            arr = arr[keep]
        elif bad.any():
            self._count("nan_values_zeroed", int(bad.sum()))
            arr = np.where(bad, np.float32(0), arr)
        if arr.shape[0] == 0 and not self.skip_empty:
            raise data_error(where, "a sequence with at least one time step", got, _EMPTY_FIX)
        if arr.shape[0] == 0:
            self._count("empty_sequences", 1)
        else:
            for col, value in zip(self.cols, (arr, label, split, seq_id), strict=True):
                col.append(value)

    def finish(self) -> SequenceDataset:
        if self.skipped:
            logger.warning("%s: skipped on purpose: %s", self.source, self.skipped)
        seqs, labels, splits, ids = self.cols
        return SequenceDataset(seqs, labels, splits, ids, self.feature_names, self.source, self.skipped)
