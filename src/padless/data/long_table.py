"""Long tables: numeric sequences stored one row per time step, grouped by a sequence id.

:func:`read_long_table` reads a CSV / TSV / JSONL / Parquet file through the shared table
reader (:func:`padless.data.tables.read_columns`) and returns a
:class:`~padless.data.dataset.SequenceDataset` whose ``sequences[i]`` is float32 (T_i, F): the
rows of one ``id_column`` value, ordered by ``step_column`` (numbers, or text such as ISO time
stamps, sorted as text) or else kept in file order, one column per feature. Features default to
every other column holding a number; text columns left out are logged.

Labels are read by the task (:class:`padless.data.label_cells.LabelRule`): a class, a set of
labels (``multilabel``), a number (``task="regression"``; ``label_columns=[...]`` reads several
targets into ``{column: value}``), each the same on every row of a sequence; or, with
``task="tagging"``, one tag per row, so the label is the sequence's tags in step order. Each
sequence's split must be the same on all its rows (a missing ``split`` column, the default
name, leaves every split None: train), and each step appear once; errors name the file, the
``line`` (CSV / TSV / JSONL, the header is line 1) or Parquet ``row`` and the column.

NaN / inf / empty cells and empty sequences follow ``nan_policy`` and ``skip_empty``
(:mod:`padless.data.numeric`). A malformed row (an unclosed quote, a wrong number of fields, a
line that is no JSON object: see :mod:`padless.data.tables`) raises naming the file and line,
or with ``skip_bad_rows=True`` is skipped, counted in ``dataset.skipped["bad_rows"]`` and
logged with the first line numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from padless.data.columnar import read_long_table_columnar
from padless.data.dataset import Label, SequenceDataset
from padless.data.delimited import BadRows
from padless.data.label_cells import LabelRule
from padless.data.numeric import (
    NAN_POLICIES,
    Item,
    _build,
    _check_choice,
    _is_number,
    _missing,
    _normalize_split,
    _number,
    _require_file,
)
from padless.data.tables import Columns, infer_format, read_columns
from padless.errors import data_error

logger = logging.getLogger(__name__)
#: Files from this size are read by :mod:`padless.data.columnar` first (pyarrow, ~20x faster,
#: ~8x less memory per row, the same dataset); its first call costs ~1 s, so small files skip it.
COLUMNAR_MIN_BYTES = 8 << 20

Cell = Callable[[int, str], str]  # (data row, column) -> how errors name that cell


def _texts(values: list[Any], col: str, cell: Cell, expected: str, fix: str) -> list[str]:
    out = ["" if v is None else str(v).strip() for v in values]
    if "" in out:
        raise data_error(cell(out.index(""), col), expected, "an empty cell", fix)
    return out


def _floats(values: list[Any], col: str, cell: Cell) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)  # fast path; None becomes NaN
    except (ValueError, TypeError):
        nums = [np.nan if _missing(v) else _number(v) for v in values]
    if None in nums:
        i, fix = nums.index(None), "fix the value, or choose feature_columns=[...]"
        raise data_error(cell(i, col), "a number (or an empty cell)", repr(values[i]), fix)
    return np.array(nums, dtype=np.float64)


def _steps(values: list[Any], col: str, cell: Cell) -> np.ndarray:
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


def _constant(
    values: list[Any] | None,
    idx: np.ndarray,
    where: str,
    column: str | None,
    ref: Callable[[int], str],
) -> Any:
    """The one value of ``column`` over the rows ``idx`` of a sequence."""
    if values is None:
        return None
    first = values[idx[0]]
    if (k := next((k for k in idx if values[k] != first), None)) is not None:
        got = f"{first!r} on {ref(idx[0])} but {values[k]!r} on {ref(k)}"
        fix = "give every row of the sequence the same value, or use different ids"
        raise data_error(f"{where}, column '{column}'", "one value per sequence", got, fix)
    return first


def _features(
    table: Columns, special: list[str], step_column: str | None, chosen: Sequence[str] | None
) -> list[str]:
    """The ``chosen`` feature columns (the step column may be one), else every column other
    than the ``special`` ones (id, label, step, split) that holds a number."""
    names, err = table.names, partial(data_error, f"{table.path} columns")
    if chosen is None:
        others = [c for c in names if c not in special]
        features = [c for c in others if any(map(_is_number, table.cells[c]))]
        if left_out := [c for c in others if c not in features]:
            logger.warning(
                "%s: non-numeric columns left out of the features: %s", table.path, left_out
            )
    else:
        features = list(chosen)
        if clash := [c for c in features if c in special and c != step_column]:
            raise err("features other than the id, label, split", str(clash), "remove them")
    if not features:
        raise err("a numeric feature column", f"columns {names}", "pass feature_columns=[...]")
    return features


def _check_columns(
    table: Columns, special: list[str], feature_columns: Sequence[str] | None
) -> None:
    """Unique column names, at least one data row, and every named column present."""
    err = partial(data_error, f"{table.path} columns")
    if len(set(table.names)) < len(table.names):
        raise err("unique column names", str(table.names), "rename the duplicate columns")
    if not len(table):
        raise data_error(str(table.path), "at least one data row", "none", "add the data rows")
    missing = [c for c in special + list(feature_columns or []) if c not in table.names]
    if missing:
        fix = "pass existing column names (they are case-sensitive)"
        raise err(f"column(s) {missing}", f"available columns {table.names}", fix)


def _sequences(
    table: Columns,
    X: np.ndarray,
    ids: list[str],
    columns: dict[str, str | None],
    values: dict[str, Any],
) -> list[Item]:
    """One item per sequence id (first appearance order), its rows ordered by step."""
    steps, ref = values["step"], table.ref
    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        groups.setdefault(sid, []).append(i)
    items: list[Item] = []
    for sid, rows in groups.items():
        idx, where = np.asarray(rows), f"{table.path} sequence id '{sid}'"
        if steps is not None:
            idx = idx[np.argsort(steps[idx], kind="stable")]
            same = np.flatnonzero(steps[idx][1:] == steps[idx][:-1])
            if same.size:
                a, b = int(idx[same[0]]), int(idx[same[0] + 1])
                got = f"step {steps[a].item()!r} on {ref(a)} and {ref(b)}"
                fix = "remove or aggregate the duplicate rows"
                where_step = f"{where}, column '{columns['step']}'"
                raise data_error(where_step, "each step once", got, fix)
        labels = values["label"]
        if values["per_step"]:
            label: Any = [labels[k] for k in idx]
        else:
            label = _constant(labels, idx, where, columns["label"], ref)
        split = _constant(values["split"], idx, where, columns["split"], ref)
        items.append((X[idx], sid, label, split, where, idx))
    return items


_MISSING_LABEL = "fill in the label, or pass label_column=None for unlabeled data"


def _label_rule(
    path: Path, task: str, multilabel: bool, delimiter: str | None, several: bool
) -> LabelRule:
    """How the label cells are read (:class:`LabelRule`): tagging is one tag per row."""
    rule = LabelRule.of(
        task, multilabel, delimiter, several=several, per_row_steps=True, where=str(path)
    )
    return replace(rule, missing_fix=_MISSING_LABEL)


def _labels(
    table: Columns, names: list[str], rule: LabelRule, several: bool, cell: Cell
) -> list[Label] | None:
    """Each data row's label by ``rule``: ``{column: value}`` rows for ``several`` targets."""
    if not names:
        return None
    parsed = {c: [rule.parse(v, cell(i, c)) for i, v in enumerate(table.cells[c])] for c in names}
    if not several:
        return list[Label](parsed[names[0]])
    return [{c: float(cast(float, parsed[c][i])) for c in names} for i in range(len(table))]


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
    skip_bad_rows: bool = False,
    check_multiline: bool = True,
    task: str = "auto",
    multilabel: bool = False,
    label_delimiter: str | None = None,
    label_columns: Sequence[str] | None = None,
) -> SequenceDataset:
    """Read a table with one row per time step, grouped by ``id_column``, ordered by
    ``step_column`` (else file order); features default to the other numeric columns.

    ``task``, ``multilabel``, ``label_delimiter`` decide how labels are read, ``label_columns``
    (several regression targets) replaces ``label_column`` (module docstring). Malformed rows
    raise unless ``skip_bad_rows=True``, which counts them in ``dataset.skipped['bad_rows']``
    and logs their first line numbers; ``check_multiline=False`` trusts quoted fields that span
    lines (see :mod:`padless.data.delimited`).
    """
    path = Path(path)
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    fmt = infer_format(path, format)
    _require_file(path, f"an existing {fmt} file")
    if path.stat().st_size >= COLUMNAR_MIN_BYTES:
        fast = read_long_table_columnar(
            path, id_column=id_column, label_column=label_column, step_column=step_column,
            feature_columns=feature_columns, split_column=split_column, format=format,
            nan_policy=nan_policy, skip_empty=skip_empty, skip_bad_rows=skip_bad_rows,
            check_multiline=check_multiline, task=task, multilabel=multilabel,
            label_delimiter=label_delimiter, label_columns=label_columns,
        )  # fmt: skip
        if fast is not None:  # None: a case only the strict reader below decides exactly
            return fast
    several = bool(label_columns)
    rule = _label_rule(path, task, multilabel, label_delimiter, several)
    bad = BadRows() if skip_bad_rows else None
    table = read_columns(path, fmt, bad_rows=bad, check_multiline=check_multiline)
    if bad is not None and bad.count:
        logger.warning("%s: %s (data.skip_bad_rows = true)", path, bad)
    if split_column == "split" and split_column not in table.names:
        split_column = None  # the default name, absent: no splits (train)
    names = list(label_columns) if label_columns else [label_column] if label_column else []
    columns = {"label": ", ".join(names) or None, "step": step_column, "split": split_column}
    special = [c for c in (id_column, *names, step_column, split_column) if c is not None]
    _check_columns(table, special, feature_columns)
    features = _features(table, special, step_column, feature_columns)
    cells = table.cells

    def cell(i: int, col: str) -> str:
        return f"{path} {table.ref(i)}, column '{col}'"

    ids = _texts(cells[id_column], id_column, cell, "a sequence id", "fill in the id")
    values: dict[str, Any] = {"label": _labels(table, names, rule, several, cell), "split": None}
    values["per_step"] = rule.kind == "step" and bool(names)
    values["step"] = _steps(cells[step_column], step_column, cell) if step_column else None
    if split_column:
        raw = cells[split_column]
        values["split"] = [_normalize_split(v, cell(i, split_column)) for i, v in enumerate(raw)]
    X = np.stack([_floats(cells[c], c, cell) for c in features], axis=1)
    items = _sequences(table, X, ids, columns, values)
    steps = values["step"]

    def at(i: int) -> str:
        return table.ref(i) if steps is None else f"{table.ref(i)}, step {steps[i].item()!r}"

    ds = _build(str(path), features, items, nan_policy, skip_empty, at, values["per_step"])
    if bad is not None and bad.count:
        ds.skipped["bad_rows"] = bad.count
    return ds
