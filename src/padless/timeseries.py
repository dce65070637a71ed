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
import importlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .data import SequenceDataset
from .errors import ArtifactError, data_error, format_error

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_steps", "zero")
_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}
_SPLITS |= dict.fromkeys(("valid", "validation", "val", "dev"), "valid")
_MISSING = {"", "?", "na", "n/a", "nan", "null"}
_NAN_FIX = 'clean the data, or pass nan_policy="drop_steps" (drop those steps) or "zero"'
_EMPTY_FIX = "remove the sequence from the file, or pass skip_empty=True to skip and count it"
_LABEL_FIX = "fix the label or add it to the '@classLabel' header line"
Cases = list[tuple[int | None, np.ndarray, str | None]]  # (line number, (T, F) values, label)


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


# ----------------------------------------------------------------------------- .ts format
_TS_FLAGS = ("timestamps", "missing", "univariate", "equallength", "classlabel")


def _ts_tag(h: dict[str, Any], line: str, where: str) -> None:
    """Store one header tag (``@name args``) in ``h``; ``@data`` checks the header as a whole."""
    tag, *args = line.split()
    key, err = tag[1:].lower(), partial(data_error, where)
    if key in _TS_FLAGS:
        flag = args[0].lower() if args else ""
        if flag not in ("true", "false") or (len(args) > 1 and key != "classlabel"):
            raise err(f"'{tag}' followed by true or false", repr(line), f"write '{tag} true|false'")
        h[key] = flag == "true"
        if key == "classlabel":
            h["labels"] = args[1:]
            if h[key] and not args[1:]:
                raise err("the class labels after '@classLabel true'", "none", "list every label")
    elif key in ("dimensions", "serieslength"):
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise err(f"'{tag} <positive integer>'", repr(line), "fix the header tag")
        h[key] = int(args[0])
    elif key == "data":
        if h["timestamps"]:
            fix = "convert it to a long table and use read_long_table(..., step_column=...)"
            raise err("a .ts file without time stamps", "'@timeStamps true'", fix)
        if h["univariate"] and h["dimensions"] not in (None, 1):
            got = f"'@dimensions {h['dimensions']}'"
            raise err("'@dimensions 1' with '@univariate true'", got, "make the two tags agree")
        h["data"], h["dimensions"] = True, 1 if h["univariate"] else h["dimensions"]
    elif key != "problemname":
        logger.warning("%s: ignoring unknown header tag %r", where, tag)


def _ts_case(line: str, h: dict[str, Any], where: str) -> tuple[np.ndarray, str | None]:
    """Parse one case line into ``((T, F) float64 values, label)``; ``?`` is a missing value."""
    err, n_dims = partial(data_error, where), h["dimensions"]
    parts, label = line.split(":"), None
    if h["classlabel"] is not False:  # like aeon: without @classLabel the last field is the label
        if len(parts) < 2:
            raise err("dimensions then ':<label>'", "no ':'", "append the class label to the line")
        label = parts.pop().strip()
        if h["classlabel"] and label not in h["labels"]:
            raise err(f"a label declared in '@classLabel' {h['labels']}", repr(label), _LABEL_FIX)
    if n_dims is not None and len(parts) != n_dims:
        expected = f"{n_dims} dimensions (as in the header / first case)"
        raise err(expected, f"{len(parts)} dimensions", "give every case the same dimensions")
    dims = []
    for d, text in enumerate(parts):
        tokens = [t.strip() for t in text.split(",")] if text.strip() else []
        try:
            dims.append(np.array([np.nan if t == "?" else t for t in tokens], dtype=np.float64))
        except ValueError:
            k = [t != "?" and _number(t) is None for t in tokens].index(True)
            where_k, fix = f"{where}, dimension {d}, value {k + 1}", "fix the value (',' separated)"
            raise data_error(where_k, "a number or '?'", repr(tokens[k]), fix) from None
    lengths = [len(d) for d in dims]
    if len(set(lengths)) > 1:
        fix = "pad or trim the dimensions of this case to one length"
        raise err("one length for every dimension of a case", f"lengths {lengths}", fix)
    if h["equallength"] and h["serieslength"] not in (None, lengths[0]):
        expected = f"{h['serieslength']} values per dimension ('@seriesLength')"
        raise err(expected, str(lengths[0]), "fix the case, or set '@equalLength false'")
    return np.stack(dims, axis=1), label


def _parse_ts(path: Path) -> Cases:
    h: dict[str, Any] = dict.fromkeys(_TS_FLAGS + ("dimensions", "serieslength", "data"))
    h["labels"], cases = [], []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line, where = raw.strip(), f"{path} line {lineno}"
                if not line or line.startswith("#"):
                    continue
                if h["data"]:
                    values, label = _ts_case(line, h, where)
                    cases.append((lineno, values, label))
                    h["dimensions"] = values.shape[1]
                elif line.startswith("@"):
                    _ts_tag(h, line, where)
                else:
                    fix = "add the '@data' line before the first case"
                    raise data_error(where, "a header tag '@...'", repr(line[:60]), fix)
    except UnicodeDecodeError as exc:
        raise data_error(str(path), "UTF-8 text", str(exc), "re-save the file as UTF-8") from None
    if not cases:
        got = "no cases" if h["data"] else "no '@data' line"
        raise data_error(str(path), "'@data' and at least one case", got, "add them")
    return cases


def _parse_ts_aeon(path: Path) -> Cases:
    aeon = _optional("aeon.datasets", "read_ts(engine='aeon')", "timeseries")
    try:
        X, y, meta = aeon.load_from_ts_file(str(path), return_meta_data=True)
    except (OSError, ValueError, IndexError) as exc:
        got, fix = f"{type(exc).__name__}: {exc}", "use engine='padless' for a line-level diagnosis"
        raise data_error(str(path), "a .ts file aeon can load", got, fix) from exc
    declared = [str(v) for v in meta.get("class_values", [])] if meta.get("classlabel") else []
    labels = [str(v) for v in y] if len(y) == len(X) else [None] * len(X)
    for k, label in enumerate(labels):
        if declared and label not in declared:
            expected = f"a label declared in '@classLabel' {declared}"
            raise data_error(f"{path} case {k + 1}", expected, repr(label), _LABEL_FIX)
    return [(None, np.asarray(x, np.float64).T, lab) for x, lab in zip(X, labels, strict=True)]


def read_ts(
    path: str | Path,
    *,
    split: str | None = None,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read a UEA/UCR ``.ts`` file (ids ``"{stem}:{case}"``, features ``dim_<d>``, split from a
    ``_TRAIN`` / ``_TEST`` stem); ``engine="aeon"`` parses with aeon, whose errors lack the line."""
    path = Path(path)
    _check_choice("engine", engine, ("padless", "aeon"))
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    _require_file(path, "an existing .ts file")
    if split is None:
        stem = path.stem.upper()
        split = "train" if stem.endswith("_TRAIN") else "test" if stem.endswith("_TEST") else None
    split = _normalize_split(split, "argument split")
    cases = _parse_ts_aeon(path) if engine == "aeon" else _parse_ts(path)
    items = []
    for row, (lineno, values, label) in enumerate(cases):
        seq_id = f"{path.stem}:{row}"
        where = f"{path} {f'line {lineno}' if lineno else f'case {row + 1}'} (id '{seq_id}')"
        items.append((values, seq_id, label, split, where, None))
    names = [f"dim_{i}" for i in range(cases[0][1].shape[1])]
    return _build(str(path), names, items, nan_policy, skip_empty)


def read_ts_pair(
    directory_or_prefix: str | Path,
    *,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read ``Name_TRAIN.ts`` + ``Name_TEST.ts`` from the folder or path prefix ``.../Name``."""
    base = Path(directory_or_prefix)
    prefix = base / base.name if base.is_dir() else base
    paths = [prefix.with_name(f"{prefix.name}_{s}.ts") for s in ("TRAIN", "TEST")]
    for p in paths:
        _require_file(p, "a <Name>_TRAIN.ts / <Name>_TEST.ts pair")
    kw: dict[str, Any] = {"engine": engine, "nan_policy": nan_policy, "skip_empty": skip_empty}
    a, b = read_ts(paths[0], split="train", **kw), read_ts(paths[1], split="test", **kw)
    return concat(a, b, source=str(base))


def concat(a: SequenceDataset, b: SequenceDataset, source: str) -> SequenceDataset:
    """``a`` then ``b`` as one dataset (e.g. the TRAIN and TEST files); skip counts are summed."""
    if a.num_features != b.num_features:
        expected = f"{a.num_features} dimensions like {a.source}"
        raise data_error(b.source, expected, str(b.num_features), "use one dataset's files")
    cols = [getattr(a, k) + getattr(b, k) for k in ("sequences", "labels", "splits", "ids")]
    skipped = dict(Counter(a.skipped) + Counter(b.skipped))
    return SequenceDataset(*cols, feature_names=a.feature_names, source=source, skipped=skipped)


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


# ----------------------------------------------------------------------------- normalisation
class Normalizer:
    """Per-feature ``(x - mean) / std`` over all real time steps, fitted on train only (so no
    statistics leak from valid / test); population std, 1 for a constant feature."""

    def __init__(self, mean, std, feature_names: Sequence[str] | None = None, n_steps: int = 0):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.n_steps = int(n_steps)

    @property
    def num_features(self) -> int:
        return int(self.mean.shape[0])

    @staticmethod
    def _checked(sequences: Sequence[np.ndarray], n_features: int | None, where: str) -> list:
        out = [np.asarray(s, dtype=np.float64) for s in sequences]
        n_features = out[0].shape[-1] if out and n_features is None else n_features
        for i, s in enumerate(out):
            if s.ndim != 2 or s.shape[1] != n_features:
                fix = "pass (T, F) arrays with the features the normalizer is fitted on"
                expected = f"shape (T, {n_features})"
                raise data_error(f"{where} sequence {i}", expected, str(s.shape), fix)
        return out

    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], feature_names=None) -> Normalizer:
        """Fit on ``sequences`` (each ``(T_i, F)``, all finite) - the train split only."""
        seqs = cls._checked(sequences, None, "Normalizer.fit")
        if bad := [i for i, s in enumerate(seqs) if not np.isfinite(s).all()]:
            fix = "read the data with nan_policy='drop_steps' or 'zero'"
            raise data_error(f"Normalizer.fit sequence {bad[0]}", "finite values", "NaN/inf", fix)
        seqs = [s for s in seqs if len(s)]
        n = sum(len(s) for s in seqs)
        if n == 0:
            got = f"{len(sequences)} sequences, 0 time steps"
            raise data_error("Normalizer.fit", "at least one sequence", got, "pass the train split")
        # Two passes in float64, one sequence at a time (no concatenated copy).
        mean = sum(s.sum(axis=0) for s in seqs) / n
        var = sum(((s - mean) ** 2).sum(axis=0) for s in seqs) / n
        ends = np.concatenate([[s.min(axis=0), s.max(axis=0)] for s in seqs])
        std = np.where(np.ptp(ends, axis=0) == 0, 1.0, np.sqrt(var))  # constant feature: 1
        return cls(mean, std, feature_names, n_steps=n)

    def transform(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return standardised float32 copies of ``sequences`` (each ``(T_i, F)``)."""
        seqs = self._checked(sequences, self.num_features, "Normalizer.transform")
        return [((s - self.mean) / self.std).astype(np.float32) for s in seqs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain lists and numbers)."""
        mean, std = self.mean.tolist(), self.std.tolist()
        names, n = self.feature_names, self.n_steps
        return {"type": "standard", "mean": mean, "std": std, "feature_names": names, "n_steps": n}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild from :meth:`to_dict`; raises ArtifactError on a damaged state."""

        def bad(expected: str, got: str) -> ArtifactError:
            fix = "re-save the model artifact"
            return ArtifactError(format_error("normalizer state", expected, got, fix))

        if not isinstance(d, dict) or d.get("type") != "standard":
            raise bad("a dict with type 'standard'", repr(d)[:80])
        try:
            mean, std = (np.asarray(d[k], dtype=np.float64) for k in ("mean", "std"))
        except (KeyError, TypeError, ValueError) as exc:
            raise bad("numeric lists 'mean' and 'std'", f"{type(exc).__name__}: {exc}") from None
        if mean.ndim != 1 or mean.shape != std.shape:
            raise bad("'mean' and 'std' of equal length", f"{mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise bad("finite mean and positive finite std", "other values")
        names = d.get("feature_names")
        if names is not None and len(names) != mean.shape[0]:
            raise bad(f"{mean.shape[0]} feature names", f"{len(names)}")
        return cls(mean, std, names, n_steps=int(d.get("n_steps", 0)))


def fit_normalizer(dataset: SequenceDataset, split: str = "train") -> Normalizer:
    """Fit a :class:`Normalizer` on the sequences of ``dataset`` whose split is ``split``."""
    rows = [s for s, sp in zip(dataset.sequences, dataset.splits, strict=True) if sp == split]
    if not rows:
        got = f"split counts {dict(Counter(dataset.splits))}"
        fix = "read train and test (read_ts_pair), name the file *_TRAIN.ts, or pass split="
        where, expected = f"{dataset.source} splits", f"at least one sequence with split {split!r}"
        raise data_error(where, expected, got, fix)
    return Normalizer.fit(rows, dataset.feature_names)
