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

import csv
import gzip
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from padless.data.dataset import SequenceDataset
from padless.data.numeric import (
    _MISSING,
    NAN_POLICIES,
    _build,
    _check_choice,
    _normalize_split,
    _optional,
    _require_file,
)
from padless.errors import data_error

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- long tables
def _infer_format(path: Path, fmt: str | None) -> str:
    name = path.name.lower().removesuffix(".gz")
    fmt = (fmt or (name.rsplit(".", 1)[-1] if "." in name else "")).lower()
    if fmt not in ("csv", "tsv", "parquet"):
        expected = "a .csv, .tsv (optionally .gz) or .parquet file"
        fix = "rename the file or pass format='csv'|'tsv'|'parquet'"
        raise data_error(str(path), expected, repr(fmt or "no suffix"), fix)
    return fmt


def _read_table(path: Path, fmt: str) -> tuple[list[str], dict[str, list], str, Sequence[int]]:
    """Column names, ``{column: cells}`` and how errors name the data rows: ``line`` numbers
    (CSV/TSV, header = line 1) or 1-based Parquet ``row`` numbers."""
    if fmt == "parquet":
        pq = _optional("pyarrow.parquet", "read_long_table(format='parquet')", "parquet")
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise data_error(str(path), "a Parquet file", str(exc), "check the file") from None
        return table.column_names, table.to_pydict(), "row", range(1, table.num_rows + 1)
    rows: list[list[str]] = []
    lines: list[int] = []
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
            names = [h.strip() for h in next(reader, [])]
            for row in filter(None, reader):  # a blank line holds no data
                if len(row) != len(names):
                    where, got = f"{path} line {reader.line_num}", f"{len(row)} fields"
                    fix = "quote fields that contain the delimiter, or fix the row"
                    raise data_error(where, f"{len(names)} fields like the header", got, fix)
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, csv.Error) as exc:
        fix = "re-save it as UTF-8 text (gzip-compressed if named .gz)"
        raise data_error(str(path), "UTF-8 delimited text", str(exc), fix) from None
    return names, {n: [r[j] for r in rows] for j, n in enumerate(names)}, "line", lines


def _missing(v: Any) -> bool:
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


def _texts(values: list, col: str, cell: Callable, expected: str, fix: str) -> list[str]:
    out = ["" if v is None else str(v).strip() for v in values]
    if "" in out:
        raise data_error(cell(out.index(""), col), expected, "an empty cell", fix)
    return out


def _floats(values: list, col: str, cell: Callable) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)  # fast path; None becomes NaN
    except (ValueError, TypeError):
        nums = [np.nan if _missing(v) else _number(v) for v in values]
    if None in nums:
        i, fix = nums.index(None), "fix the value, or choose feature_columns=[...]"
        raise data_error(cell(i, col), "a number (or an empty cell)", repr(values[i]), fix)
    return np.array(nums, dtype=np.float64)


def _steps(values: list, col: str, cell: Callable) -> np.ndarray:
    """Steps as int64 / float64 or, when none is a number (e.g. ISO time stamps), as text."""
    empty = [i for i, v in enumerate(values) if _missing(v)]
    if empty:
        raise data_error(cell(empty[0], col), "a step", "an empty cell", "fill in the step")
    nums = [_number(v) for v in values]
    if all(x is None for x in nums):
        return np.array([str(v).strip() for v in values])
    if None in nums:
        i = nums.index(None)
        expected = "a numeric step like the other rows"
        raise data_error(cell(i, col), expected, repr(values[i]), "fix the step")
    return np.array(nums, dtype=np.int64 if all(isinstance(x, int) for x in nums) else np.float64)


def _constant(values: list | None, idx: np.ndarray, where: str, column: str | None, ref) -> Any:
    """The one value of ``column`` over the rows ``idx`` of a sequence."""
    if values is None:
        return None
    first = values[idx[0]]
    if (k := next((k for k in idx if values[k] != first), None)) is not None:
        got = f"{first!r} on {ref(idx[0])} but {values[k]!r} on {ref(k)}"
        fix = "give every row of the sequence the same value, or use different ids"
        raise data_error(f"{where}, column '{column}'", "one value per sequence", got, fix)
    return first


def read_long_table(
    path: str | Path,
    *,
    id_column: str,
    label_column: str | None,
    step_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    split_column: str | None = None,
    format: str | None = None,
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read a table with one row per time step, grouped by ``id_column``, ordered by
    ``step_column`` (else file order); features default to the other numeric columns."""
    path = Path(path)
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    fmt = _infer_format(path, format)
    _require_file(path, f"an existing {fmt} file")
    names, cols, word, nums = _read_table(path, fmt)

    def ref(i: int) -> str:
        return f"{word} {nums[i]}"

    def cell(i: int, col: str) -> str:
        return f"{path} {ref(i)}, column '{col}'"

    err = partial(data_error, f"{path} columns")
    if len(set(names)) < len(names):
        raise err("unique column names", str(names), "rename the duplicate columns")
    if not nums:
        raise data_error(str(path), "at least one data row", "none", "add the data rows")
    special = [c for c in (id_column, label_column, step_column, split_column) if c is not None]
    missing = [c for c in special + list(feature_columns or []) if c not in names]
    if missing:
        fix = "pass existing column names (they are case-sensitive)"
        raise err(f"column(s) {missing}", f"available columns {names}", fix)
    if feature_columns is None:
        others = [c for c in names if c not in special]
        features = [c for c in others if any(map(_is_number, cols[c]))]
        if left_out := [c for c in others if c not in features]:
            logger.warning("%s: non-numeric columns left out of the features: %s", path, left_out)
    else:
        features = list(feature_columns)
        if clash := [c for c in features if c in (id_column, label_column, split_column)]:
            raise err("features other than the id, label, split", str(clash), "remove them")
    if not features:
        raise err("a numeric feature column", f"columns {names}", "pass feature_columns=[...]")

    ids = _texts(cols[id_column], id_column, cell, "a sequence id", "fill in the id")
    labels = splits = steps = None
    if label_column:
        fix = "fill in the label, or pass label_column=None for unlabeled data"
        labels = _texts(cols[label_column], label_column, cell, "a label", fix)
    if split_column:
        raw = cols[split_column]
        splits = [_normalize_split(v, cell(i, split_column)) for i, v in enumerate(raw)]
    if step_column:
        steps = _steps(cols[step_column], step_column, cell)
    X = np.stack([_floats(cols[c], c, cell) for c in features], axis=1)

    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        groups.setdefault(sid, []).append(i)
    items = []
    for sid, rows in groups.items():
        idx, where = np.asarray(rows), f"{path} sequence id '{sid}'"
        if steps is not None:
            idx = idx[np.argsort(steps[idx], kind="stable")]
            same = np.flatnonzero(steps[idx][1:] == steps[idx][:-1])
            if same.size:
                a, b = int(idx[same[0]]), int(idx[same[0] + 1])
                got = f"step {steps[a].item()!r} on {ref(a)} and {ref(b)}"
                fix = "remove or aggregate the duplicate rows"
                raise data_error(f"{where}, column '{step_column}'", "each step once", got, fix)
        label = _constant(labels, idx, where, label_column, ref)
        split = _constant(splits, idx, where, split_column, ref)
        items.append((X[idx], sid, label, split, where, idx))

    def at(i: int) -> str:
        return ref(i) if steps is None else f"{ref(i)}, step {steps[i].item()!r}"

    return _build(str(path), features, items, nan_policy, skip_empty, at)
