"""What the numeric readers share: cell parsing, argument checks and the NaN / empty policies.

:func:`~padless.data.ts.read_ts` and :func:`~padless.data.long_table.read_long_table` both end in
:func:`_build`, which turns ``(values, id, label, split, where, rows)`` items, ``values`` of shape
(T, F), into a :class:`~padless.data.dataset.SequenceDataset` of float32 (T_i, F) sequences.
Keeping the policies here makes the two readers treat bad values alike:

* non-finite values (``?``, NaN, inf, or beyond float32 range) raise a
  :class:`~padless.errors.DataError` naming the file, line / sequence, feature and time step,
  unless ``nan_policy`` is ``"drop_steps"`` (drop every time step holding one, and with
  per-step labels its tag too) or ``"zero"`` (replace them by 0); both are counted in
  ``dataset.skipped`` (``nan_steps_dropped`` / ``nan_values_zeroed``) and logged;
* sequences with no time steps (also after dropping) raise, or with ``skip_empty=True`` are
  counted in ``skipped["empty_sequences"]``.

Also here: split names and their aliases (:func:`_normalize_split`), what counts as a missing
or numeric cell (:func:`_missing`, :func:`_number`) and :func:`concat` (a UEA/UCR TRAIN file
followed by its TEST file).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padless.data.dataset import Label, SequenceDataset
from padless.errors import data_error, format_error

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_steps", "zero")

_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}
_SPLITS |= dict.fromkeys(("valid", "validation", "val", "dev"), "valid")

_MISSING = {"", "?", "na", "n/a", "nan", "null"}

_NAN_FIX = 'clean the data, or pass nan_policy="drop_steps" (drop those steps) or "zero"'

_EMPTY_FIX = "remove the sequence from the file, or pass skip_empty=True to skip and count it"

#: One sequence for :func:`_build`: (T, F) values, id, label, split, how errors name it, and
#: the table row of each time step (None when the rows are not a table's).
Item = tuple[Any, str, Label | None, str | None, str, np.ndarray | None]


# ----------------------------------------------------------------------------- arguments
def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(format_error(f"argument {name}", f"one of {list(choices)}", repr(value)))


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


# ----------------------------------------------------------------------------- cells
def _missing(v: Any) -> bool:
    """None, NaN, or text such as ``""``, ``?``, ``NA``, ``null`` (case-insensitive)."""
    return v != v if isinstance(v, float) else v is None or str(v).strip().lower() in _MISSING


def _number(v: Any) -> int | float | None:
    """``v`` as a Python number (text is parsed), or None when it is not one."""
    if isinstance(v, int | float):
        return v
    for cast in (int, float):
        try:
            return cast(str(v).strip())
        except ValueError:
            pass
    return None


def _is_number(v: Any) -> bool:
    return not _missing(v) and _number(v) is not None


# ----------------------------------------------------------------------------- policies
def _build(
    source: str,
    names: list[str],
    items: list[Item],
    nan_policy: str,
    skip_empty: bool,
    at: Callable[[int], str] | None = None,
    per_step_labels: bool = False,
) -> SequenceDataset:
    """Apply the NaN / empty policies to ``(values, id, label, split, where, rows)`` items.

    ``where`` names the sequence in errors; ``rows`` (or None) holds the table row of each time
    step, ``at(row)`` names it. ``per_step_labels``: each label is a list of one tag per step,
    which loses the tags of dropped steps.
    """
    skipped: Counter[str] = Counter()
    sequences: list[np.ndarray] = []
    labels: list[Label | None] = []
    splits: list[str | None] = []
    ids: list[str] = []
    for values, seq_id, label, split, where, rows in items:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(values, dtype=np.float32)
        bad = ~np.isfinite(arr)
        got = "0 time steps"
        if bad.any() and nan_policy == "raise":
            t, f = (int(i) for i in np.argwhere(bad)[0])
            v = float(arr[t, f])
            row = f" ({at(int(rows[t]))})" if rows is not None and at is not None else ""
            shown = str(v) if np.isnan(v) else f"{v} (or a value beyond float32 range)"
            where = f"{where}{row}, feature '{names[f]}', time step {t} (0-based)"
            raise data_error(where, "a finite number", shown, _NAN_FIX)
        if bad.any() and nan_policy == "drop_steps":
            keep = ~bad.any(axis=1)
            skipped["nan_steps_dropped"] += int((~keep).sum())
            got += f" (after dropping {int((~keep).sum())} steps with NaN/inf)"
            arr = arr[keep]
            if per_step_labels and isinstance(label, list):
                label = [label[int(t)] for t in np.flatnonzero(keep)]
        elif bad.any():
            skipped["nan_values_zeroed"] += int(bad.sum())
            arr = np.where(bad, np.float32(0), arr)
        if len(arr) == 0 and not skip_empty:
            raise data_error(where, "a sequence with at least one time step", got, _EMPTY_FIX)
        if len(arr) == 0:
            skipped["empty_sequences"] += 1
            continue
        sequences.append(arr)
        labels.append(label)
        splits.append(split)
        ids.append(seq_id)
    if skipped:
        logger.warning("%s: skipped on purpose: %s", source, dict(skipped))
    return SequenceDataset(sequences, labels, splits, ids, names, source, dict(skipped))


def concat(a: SequenceDataset, b: SequenceDataset, source: str) -> SequenceDataset:
    """``a`` then ``b`` as one dataset (e.g. the TRAIN and TEST files); skip counts are summed."""
    if a.num_features != b.num_features:
        expected = f"{a.num_features} dimensions like {a.source}"
        raise data_error(b.source, expected, str(b.num_features), "use one dataset's files")
    return SequenceDataset(
        a.sequences + b.sequences,
        a.labels + b.labels,
        a.splits + b.splits,
        a.ids + b.ids,
        feature_names=a.feature_names,
        source=source,
        skipped=dict(Counter(a.skipped) + Counter(b.skipped)),
    )
