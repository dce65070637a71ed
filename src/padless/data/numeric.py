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

import importlib
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padless.data.dataset import SequenceDataset
from padless.errors import data_error, format_error

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_steps", "zero")


_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}


_SPLITS |= dict.fromkeys(("valid", "validation", "val", "dev"), "valid")


_MISSING = {"", "?", "na", "n/a", "nan", "null"}


_NAN_FIX = 'clean the data, or pass nan_policy="drop_steps" (drop those steps) or "zero"'


_EMPTY_FIX = "remove the sequence from the file, or pass skip_empty=True to skip and count it"


# ----------------------------------------------------------------------------- shared helpers
def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(format_error(f"argument {name}", f"one of {list(choices)}", repr(value)))


def _optional(module: str, where: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        expected, fix = f"the optional dependency {module}", f"pip install padless[{extra}]"
        raise ImportError(format_error(where, expected, f"ImportError ({exc})", fix)) from exc


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        listing = sorted(p.name for p in path.parent.iterdir())[:20] if path.parent.is_dir() else []
        got = f"no such file (directory {str(path.parent)!r} holds {listing})"
        raise data_error(str(path), what, got, "check the path")


def _normalize_split(value: Any, where: str) -> str | None:
    """Map a split name or alias (``validation``, ``dev``, ...) to train / valid / test."""
    text = "" if value is None else str(value).strip().lower()
    if text and text not in _SPLITS:
        expected = "a split name 'train', 'valid' or 'test' (or empty)"
        raise data_error(where, expected, repr(value), "rename it (validation/val/dev: 'valid')")
    return _SPLITS.get(text)


def _build(source: str, names: list[str], items: list, nan_policy: str, skip_empty: bool, at=None):
    """Apply the NaN / empty policies to ``(values, id, label, split, where, rows)`` items.

    ``where`` names the sequence in errors; ``rows`` (or None) holds the table row of each time
    step, ``at(row)`` names it.
    """
    skipped: Counter[str] = Counter()
    out: tuple[list, list, list, list] = ([], [], [], [])  # sequences, labels, splits, ids
    for values, seq_id, label, split, where, rows in items:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(values, dtype=np.float32)
        bad = ~np.isfinite(arr)
        got = "0 time steps"
        if bad.any() and nan_policy == "raise":
            t, f = (int(i) for i in np.argwhere(bad)[0])
            v, row = float(arr[t, f]), f" ({at(int(rows[t]))})" if rows is not None else ""
            shown = str(v) if np.isnan(v) else f"{v} (or a value beyond float32 range)"
            where = f"{where}{row}, feature '{names[f]}', time step {t} (0-based)"
            raise data_error(where, "a finite number", shown, _NAN_FIX)
        if bad.any() and nan_policy == "drop_steps":
            keep = ~bad.any(axis=1)
            skipped["nan_steps_dropped"] += int((~keep).sum())
            got += f" (after dropping {int((~keep).sum())} steps with NaN/inf)"
            arr = arr[keep]
        elif bad.any():
            skipped["nan_values_zeroed"] += int(bad.sum())
            arr = np.where(bad, np.float32(0), arr)
        if len(arr) == 0 and not skip_empty:
            raise data_error(where, "a sequence with at least one time step", got, _EMPTY_FIX)
        if len(arr) == 0:
            skipped["empty_sequences"] += 1
            continue
        for col, value in zip(out, (arr, label, split, seq_id), strict=True):
            col.append(value)
    if skipped:
        logger.warning("%s: skipped on purpose: %s", source, dict(skipped))
    return SequenceDataset(*out, feature_names=names, source=source, skipped=dict(skipped))


def concat(a: SequenceDataset, b: SequenceDataset, source: str) -> SequenceDataset:
    """``a`` then ``b`` as one dataset (e.g. the TRAIN and TEST files); skip counts are summed."""
    if a.num_features != b.num_features:
        expected = f"{a.num_features} dimensions like {a.source}"
        raise data_error(b.source, expected, str(b.num_features), "use one dataset's files")
    cols = [getattr(a, k) + getattr(b, k) for k in ("sequences", "labels", "splits", "ids")]
    skipped = dict(Counter(a.skipped) + Counter(b.skipped))
    return SequenceDataset(*cols, feature_names=a.feature_names, source=source, skipped=skipped)
