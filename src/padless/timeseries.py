"""Readers for numeric time series and the per-feature :class:`Normalizer`.

Shapes, once: every reader returns a :class:`~padless.data.SequenceDataset` whose
``sequences[i]`` is a float32 array of shape ``(T_i, F)`` - time steps first, one column per
feature (channel / dimension). ``T_i`` differs between sequences; ``F`` is the same for all.

* :func:`read_ts` / :func:`read_ts_pair` - the UEA/UCR ``.ts`` format (``@`` header lines, then
  one case per line: dimensions separated by ``:``, values by ``,``, the class label last).
* :func:`read_long_table` - a "long" CSV/TSV/Parquet table with one row per time step.
* :class:`Normalizer` / :func:`fit_normalizer` - per-feature standardisation fitted on the
  train split only.

Missing or non-finite values (``?``, NaN, inf) raise a :class:`~padless.errors.DataError`
naming the file, line / sequence id, feature and time step, unless ``nan_policy`` says
otherwise: ``"drop_steps"`` drops every time step with a non-finite value, ``"zero"`` replaces
non-finite values by 0. Either is counted in ``dataset.skipped`` (``nan_steps_dropped`` /
``nan_values_zeroed``) and logged as a warning. Sequences with no time steps (also after
dropping) raise, or with ``skip_empty=True`` are counted in ``skipped["empty_sequences"]``.
"""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import SequenceDataset
from .errors import ArtifactError, data_error, format_error

logger = logging.getLogger(__name__)

NAN_POLICIES = ("raise", "drop_steps", "zero")
ENGINES = ("padless", "aeon")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
}
_MISSING_TOKENS = {"", "?", "na", "n/a", "nan", "null"}
_NAN_FIX = (
    'clean the data, or pass nan_policy="drop_steps" (drop time steps containing NaN/inf) '
    'or nan_policy="zero" (replace NaN/inf by 0)'
)
_EMPTY_FIX = "remove the sequence from the file, or pass skip_empty=True to skip and count it"


# ----------------------------------------------------------------------------- shared helpers
def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            format_error(f"argument {name}", f"one of {list(choices)}", repr(value), None)
        )


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        parent = path.parent
        listing = sorted(p.name for p in parent.iterdir())[:20] if parent.is_dir() else []
        got = f"no such file (directory {str(parent)!r} holds {listing})"
        raise data_error(str(path), what, got, "check the path")


def _normalize_split(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return _SPLIT_ALIASES[text.lower()]
    except KeyError:
        raise data_error(
            where,
            "a split name 'train', 'valid' or 'test' (or empty)",
            repr(value),
            "rename the split (validation/val/dev map to 'valid')",
        ) from None


class _Builder:
    """Applies the NaN / empty policies and collects the dataset rows."""

    def __init__(self, source: str, feature_names: list[str], nan_policy: str, skip_empty: bool):
        self.source = source
        self.feature_names = feature_names
        self.nan_policy = nan_policy
        self.skip_empty = skip_empty
        self.skipped: dict[str, int] = {}
        self.sequences: list[np.ndarray] = []
        self.labels: list[str | None] = []
        self.splits: list[str | None] = []
        self.ids: list[str] = []

    def _count(self, key: str, n: int) -> None:
        if n:
            self.skipped[key] = self.skipped.get(key, 0) + int(n)

    def add(
        self,
        arr: np.ndarray,
        seq_id: str,
        label: str | None,
        split: str | None,
        where: str,
        describe: Callable[[int, int], str],
    ) -> None:
        """``where`` names the sequence; ``describe(t, f)`` names one value of it."""
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        bad = ~np.isfinite(arr)
        n_dropped = 0
        if bad.any():
            if self.nan_policy == "raise":
                t, f = (int(i) for i in np.argwhere(bad)[0])
                value = float(arr[t, f])
                got = (
                    str(value) if np.isnan(value) else f"{value} (or a value beyond float32 range)"
                )
                raise data_error(describe(t, f), "a finite number", got, _NAN_FIX)
            if self.nan_policy == "drop_steps":
                keep = ~bad.any(axis=1)
                n_dropped = int((~keep).sum())
                self._count("nan_steps_dropped", n_dropped)
                arr = arr[keep]
            else:
                self._count("nan_values_zeroed", int(bad.sum()))
                arr = np.where(bad, np.float32(0), arr)
        if arr.shape[0] == 0:
            got = "0 time steps"
            if n_dropped:
                got += f" (after dropping {n_dropped} steps with NaN/inf)"
            if not self.skip_empty:
                raise data_error(where, "a sequence with at least one time step", got, _EMPTY_FIX)
            self._count("empty_sequences", 1)
            return
        self.sequences.append(arr)
        self.labels.append(label)
        self.splits.append(split)
        self.ids.append(seq_id)

    def finish(self) -> SequenceDataset:
        if self.skipped:
            logger.warning("%s: skipped on purpose: %s", self.source, self.skipped)
        return SequenceDataset(
            sequences=self.sequences,
            labels=self.labels,
            splits=self.splits,
            ids=self.ids,
            feature_names=self.feature_names,
            source=self.source,
            skipped=self.skipped,
        )


# ----------------------------------------------------------------------------- .ts format
class _TsHeader:
    def __init__(self) -> None:
        self.timestamps = False
        self.univariate: bool | None = None
        self.dimensions: int | None = None
        self.equal_length: bool | None = None
        self.series_length: int | None = None
        self.class_label: bool | None = None
        self.class_values: list[str] = []
        self.target_label = False

    @property
    def has_label(self) -> bool:
        # Like aeon: without a @classLabel tag the last field is still read as the label.
        return self.class_label is not False or self.target_label


def _ts_bool(value: str, where: str) -> bool:
    low = value.lower()
    if low not in ("true", "false"):
        raise data_error(where, "true or false", repr(value), "write the tag as '@tag true|false'")
    return low == "true"


def _ts_int(value: str, where: str) -> int:
    try:
        out = int(value)
    except ValueError:
        out = -1
    if out < 1:
        raise data_error(where, "a positive integer", repr(value), "fix the header tag")
    return out


def _parse_ts_header_line(header: _TsHeader, line: str, where: str) -> None:
    tokens = line.split()
    tag = tokens[0][1:].lower()
    args = tokens[1:]
    if tag in ("timestamps", "missing", "univariate", "equallength", "targetlabel"):
        if len(args) != 1:
            raise data_error(where, f"'@{tokens[0][1:]} true|false'", repr(line), "fix the tag")
        flag = _ts_bool(args[0], where)
        if tag == "timestamps":
            header.timestamps = flag
        elif tag == "univariate":
            header.univariate = flag
        elif tag == "equallength":
            header.equal_length = flag
        elif tag == "targetlabel":
            header.target_label = flag
    elif tag in ("dimensions", "serieslength"):
        if len(args) != 1:
            raise data_error(where, f"'@{tokens[0][1:]} <int>'", repr(line), "fix the tag")
        if tag == "dimensions":
            header.dimensions = _ts_int(args[0], where)
        else:
            header.series_length = _ts_int(args[0], where)
    elif tag == "classlabel":
        if not args:
            raise data_error(where, "'@classLabel true <labels...>' or false", repr(line), None)
        header.class_label = _ts_bool(args[0], where)
        header.class_values = args[1:]
        if header.class_label and not header.class_values:
            raise data_error(
                where,
                "the class labels after '@classLabel true'",
                "no labels",
                "list every label, e.g. '@classLabel true 1 2 3'",
            )
    elif tag != "problemname":
        logger.warning("%s: ignoring unknown header tag %r", where, tokens[0])


def _parse_ts_values(text: str, where: str, dim: int) -> np.ndarray:
    text = text.strip()
    if not text:
        return np.zeros(0, dtype=np.float64)
    tokens = text.split(",")
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(tokens), dtype=np.float64)
    for k, tok in enumerate(tokens):
        tok = tok.strip()
        if tok == "?":
            out[k] = np.nan
            continue
        try:
            out[k] = float(tok)
        except ValueError:
            raise data_error(
                f"{where}, dimension {dim}, value {k + 1}",
                "a number or '?' for a missing value",
                repr(tok),
                "fix the value (values within a dimension are separated by ',')",
            ) from None
    return out


def _parse_ts_padless(path: Path) -> list[tuple[int, np.ndarray, str | None]]:
    """Return ``[(line_number, (T, F) float64, label)]``, one entry per case."""
    header = _TsHeader()
    in_data = False
    cases: list[tuple[int, np.ndarray, str | None]] = []
    n_dims: int | None = None
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.strip()
                where = f"{path} line {lineno}"
                if not line or line.startswith("#"):
                    continue
                if not in_data:
                    if not line.startswith("@"):
                        raise data_error(
                            where,
                            "a header tag starting with '@' (data only after '@data')",
                            repr(line[:60]),
                            "add the '@data' line before the first case",
                        )
                    if line.lower().split()[0] == "@data":
                        in_data = True
                        if header.timestamps:
                            raise data_error(
                                where,
                                "a .ts file without time stamps",
                                "'@timeStamps true'",
                                "convert the file to a long table (id, step, features, label) "
                                "and use read_long_table(..., step_column=...)",
                            )
                        n_dims = header.dimensions
                        if header.univariate:
                            if n_dims not in (None, 1):
                                raise data_error(
                                    f"{path} header",
                                    "'@univariate true' with '@dimensions 1'",
                                    f"'@dimensions {n_dims}'",
                                    "make the two tags agree",
                                )
                            n_dims = 1
                        continue
                    _parse_ts_header_line(header, line, where)
                    continue
                cases.append(_parse_ts_case(line, where, lineno, header, n_dims))
                if n_dims is None:
                    n_dims = cases[-1][1].shape[1]
    except UnicodeDecodeError as exc:
        raise data_error(str(path), "UTF-8 text", f"undecodable bytes ({exc})", None) from None
    if not in_data:
        raise data_error(str(path), "a '@data' line after the header", "none", "add '@data'")
    if not cases:
        raise data_error(str(path), "at least one case after '@data'", "no cases", None)
    return cases


def _parse_ts_case(
    line: str, where: str, lineno: int, header: _TsHeader, n_dims: int | None
) -> tuple[int, np.ndarray, str | None]:
    parts = line.split(":")
    label: str | None = None
    if header.has_label:
        if len(parts) < 2:
            raise data_error(
                where,
                "dimensions separated by ':' followed by ':<label>'",
                "a line without ':'",
                "append the class label after the last dimension",
            )
        label = parts.pop().strip()
        if header.class_label and label not in header.class_values:
            raise data_error(
                where,
                f"a label declared in '@classLabel' {header.class_values}",
                repr(label),
                "fix the label or add it to the '@classLabel' header line",
            )
        if header.target_label:
            try:
                float(label)
            except ValueError:
                raise data_error(where, "a numeric target value", repr(label), None) from None
    if n_dims is not None and len(parts) != n_dims:
        raise data_error(
            where,
            f"{n_dims} dimensions separated by ':' (from the header / first case)",
            f"{len(parts)} dimensions",
            "give every case the same number of dimensions",
        )
    dims = [_parse_ts_values(p, where, d) for d, p in enumerate(parts)]
    lengths = [d.shape[0] for d in dims]
    if len(set(lengths)) > 1:
        raise data_error(
            where,
            "the same number of values in every dimension of a case",
            f"lengths {lengths} for dimensions 0..{len(dims) - 1}",
            "pad or trim the dimensions of this case to one length",
        )
    if header.equal_length and header.series_length and lengths[0] != header.series_length:
        raise data_error(
            where,
            f"{header.series_length} values per dimension ('@seriesLength')",
            f"{lengths[0]}",
            "fix the case or set '@equalLength false' and drop '@seriesLength'",
        )
    return lineno, np.stack(dims, axis=1), label


def _parse_ts_aeon(path: Path) -> list[tuple[int | None, np.ndarray, str | None]]:
    try:
        from aeon.datasets import load_from_ts_file
    except ImportError as exc:
        raise ImportError(
            format_error(
                "read_ts(engine='aeon')",
                "the optional dependency aeon",
                f"ImportError ({exc})",
                "pip install padless[timeseries]",
            )
        ) from exc
    try:
        X, y, meta = load_from_ts_file(str(path), return_meta_data=True)
    except (OSError, ValueError, IndexError) as exc:
        raise data_error(
            str(path),
            "a .ts file aeon can load",
            f"{type(exc).__name__}: {exc}",
            "use engine='padless' for a line-level diagnosis",
        ) from exc
    declared = [str(v) for v in meta.get("class_values", [])]
    has_y = len(y) == len(X)
    cases: list[tuple[int | None, np.ndarray, str | None]] = []
    for row, x in enumerate(X):
        label = str(y[row]) if has_y else None
        if label is not None and meta.get("classlabel") and declared and label not in declared:
            raise data_error(
                f"{path} case {row + 1}",
                f"a label declared in '@classLabel' {declared}",
                repr(label),
                "fix the label or add it to the '@classLabel' header line",
            )
        cases.append((None, np.asarray(x, dtype=np.float64).T, label))
    return cases


def _split_from_name(path: Path) -> str | None:
    stem = path.stem.upper()
    if stem.endswith("_TRAIN"):
        return "train"
    if stem.endswith("_TEST"):
        return "test"
    return None


def read_ts(
    path: str | Path,
    *,
    split: str | None = None,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read a UEA/UCR ``.ts`` file into sequences of shape ``(T, F)`` (float32).

    ``split`` is stored for every row; when None it is inferred from a ``_TRAIN`` / ``_TEST``
    file-name suffix (else None). ids are ``"{stem}:{row}"`` with ``row`` the 0-based case
    index in the file; features are named ``dim_0 .. dim_{F-1}``. Labels are validated against
    the ``@classLabel`` set. ``engine="aeon"`` parses with ``aeon.datasets.load_from_ts_file``
    instead (same container; aeon lower-cases labels and cannot name the offending line).
    """
    path = Path(path)
    _check_choice("engine", engine, ENGINES)
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    _require_file(path, "an existing .ts file")
    split_value = _normalize_split(split, "argument split") if split is not None else None
    if split is None:
        split_value = _split_from_name(path)
    if engine == "aeon":
        cases: list[tuple[int | None, np.ndarray, str | None]] = list(_parse_ts_aeon(path))
    else:
        cases = list(_parse_ts_padless(path))
    n_features = cases[0][1].shape[1]
    names = [f"dim_{i}" for i in range(n_features)]
    builder = _Builder(str(path), names, nan_policy, skip_empty)
    for row, (lineno, values, label) in enumerate(cases):
        seq_id = f"{path.stem}:{row}"
        loc = f"line {lineno}" if lineno is not None else f"case {row + 1}"
        where = f"{path} {loc} (id '{seq_id}')"
        builder.add(
            values,
            seq_id,
            label,
            split_value,
            where,
            lambda t, f, w=where: f"{w}, feature '{names[f]}', time step {t} (0-based)",
        )
    return builder.finish()


def _concat(parts: list[SequenceDataset], source: str) -> SequenceDataset:
    skipped: dict[str, int] = {}
    for p in parts:
        for k, v in p.skipped.items():
            skipped[k] = skipped.get(k, 0) + v
    return SequenceDataset(
        sequences=[s for p in parts for s in p.sequences],
        labels=[x for p in parts for x in p.labels],
        splits=[x for p in parts for x in p.splits],
        ids=[x for p in parts for x in p.ids],
        feature_names=list(parts[0].feature_names),
        source=source,
        skipped=skipped,
    )


def read_ts_pair(
    directory_or_prefix: str | Path,
    *,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read ``<Name>_TRAIN.ts`` and ``<Name>_TEST.ts`` into one dataset (splits train / test).

    ``directory_or_prefix`` is a dataset directory (``.../JapaneseVowels``, holding
    ``JapaneseVowels_TRAIN.ts``) or a path prefix (``.../JapaneseVowels`` without the suffix).
    """
    base = Path(directory_or_prefix)
    if base.is_dir():
        train, test = base / f"{base.name}_TRAIN.ts", base / f"{base.name}_TEST.ts"
        if not train.is_file():
            found = sorted(base.glob("*_TRAIN.ts"))
            if len(found) == 1:
                train = found[0]
                test = train.with_name(train.name[: -len("_TRAIN.ts")] + "_TEST.ts")
    else:
        train = base.with_name(base.name + "_TRAIN.ts")
        test = base.with_name(base.name + "_TEST.ts")
    for p in (train, test):
        _require_file(p, "a <Name>_TRAIN.ts / <Name>_TEST.ts pair")
    opts: dict[str, Any] = {"engine": engine, "nan_policy": nan_policy, "skip_empty": skip_empty}
    parts = [read_ts(train, split="train", **opts), read_ts(test, split="test", **opts)]
    if parts[0].num_features != parts[1].num_features:
        raise data_error(
            str(test),
            f"{parts[0].num_features} dimensions like {train.name}",
            f"{parts[1].num_features}",
            "use train and test files of the same dataset",
        )
    return _concat(parts, str(base))


# ----------------------------------------------------------------------------- long tables
class _Table:
    """Columns of a long table; ``ref(i)`` names data row ``i`` (e.g. ``line 5``)."""

    def __init__(self, path: Path, names: list[str], n: int, ref: Callable[[int], str]):
        self.path = path
        self.names = names
        self.n = n
        self.ref = ref

    def strings(self, col: str) -> list[str | None]:
        raise NotImplementedError

    def is_numeric(self, col: str) -> bool:
        raise NotImplementedError

    def floats(self, col: str) -> np.ndarray:
        raise NotImplementedError

    def _parse_floats(self, col: str, values: list[str | None]) -> np.ndarray:
        try:
            return np.array(values, dtype=np.float64)
        except (ValueError, TypeError):
            pass
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            s = "" if v is None else v.strip()
            if s.lower() in _MISSING_TOKENS:
                out[i] = np.nan
                continue
            try:
                out[i] = float(s)
            except ValueError:
                raise data_error(
                    f"{self.path} {self.ref(i)}, column '{col}'",
                    "a number (or an empty cell for a missing value)",
                    repr(v),
                    "fix the value, or choose the feature columns with feature_columns=[...]",
                ) from None
        return out

    @staticmethod
    def _looks_numeric(values: list[str | None]) -> bool:
        for v in values:
            s = "" if v is None else v.strip()
            if s.lower() in _MISSING_TOKENS:
                continue
            try:
                float(s)
                return True
            except ValueError:
                continue
        return False


class _CsvTable(_Table):
    def __init__(self, path: Path, delimiter: str):
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh, delimiter=delimiter)
                header = next(reader, None)
                if header is None:
                    raise data_error(str(path), "a header line with column names", "empty", None)
                names = [h.strip() for h in header]
                for row in reader:
                    if not row:
                        continue  # a blank line holds no data
                    if len(row) != len(names):
                        raise data_error(
                            f"{path} line {reader.line_num}",
                            f"{len(names)} fields like the header",
                            f"{len(row)} fields",
                            "quote fields that contain the delimiter, or fix the row",
                        )
                    rows.append(row)
                    lines.append(reader.line_num)
        except (UnicodeDecodeError, gzip.BadGzipFile, csv.Error) as exc:
            raise data_error(str(path), "UTF-8 delimited text", f"{exc}", None) from None
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise data_error(f"{path} line 1", "unique column names", f"duplicates {dup}", None)
        super().__init__(path, names, len(rows), lambda i: f"line {lines[i]}")
        self._rows = rows
        self._index = {n: j for j, n in enumerate(names)}

    def strings(self, col: str) -> list[str | None]:
        j = self._index[col]
        return [r[j] for r in self._rows]

    def is_numeric(self, col: str) -> bool:
        return self._looks_numeric(self.strings(col))

    def floats(self, col: str) -> np.ndarray:
        return self._parse_floats(col, self.strings(col))


def _import_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ImportError(
            format_error(
                "read_long_table(format='parquet')",
                "the optional dependency pyarrow",
                f"ImportError ({exc})",
                "pip install padless[parquet]",
            )
        ) from exc
    return pyarrow


class _ParquetTable(_Table):
    def __init__(self, path: Path):
        pa = _import_pyarrow()
        self._pa = pa
        try:
            self._table = pa.parquet.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise data_error(str(path), "a Parquet file", f"{exc}", None) from None
        names = list(self._table.column_names)
        super().__init__(path, names, self._table.num_rows, lambda i: f"row {i + 1}")

    def _type(self, col: str) -> Any:
        return self._table.schema.field(col).type

    def strings(self, col: str) -> list[str | None]:
        return [None if v is None else str(v) for v in self._table.column(col).to_pylist()]

    def is_numeric(self, col: str) -> bool:
        t, types = self._type(col), self._pa.types
        return types.is_integer(t) or types.is_floating(t) or types.is_boolean(t)

    def floats(self, col: str) -> np.ndarray:
        types = self._pa.types
        if self.is_numeric(col) or types.is_decimal(self._type(col)):
            arr = self._table.column(col).cast(self._pa.float64())
            return np.asarray(arr.to_numpy(), dtype=np.float64)
        if types.is_string(self._type(col)) or types.is_large_string(self._type(col)):
            return self._parse_floats(col, self.strings(col))
        raise data_error(
            f"{self.path} column '{col}'",
            "a numeric (or numeric text) column",
            f"type {self._type(col)}",
            "choose the feature columns with feature_columns=[...]",
        )

    def steps(self, col: str) -> np.ndarray:
        if self.is_numeric(col) and not self._pa.types.is_floating(self._type(col)):
            return self._table.column(col).cast(self._pa.int64()).to_numpy()
        if self.is_numeric(col):
            return self.floats(col)
        return np.array(self._table.column(col).to_pylist(), dtype=object)


def _infer_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        name = path.name.lower()
        name = name[:-3] if name.endswith(".gz") else name
        fmt = name.rsplit(".", 1)[-1] if "." in name else ""
    fmt = fmt.lower()
    if fmt not in ("csv", "tsv", "parquet"):
        raise data_error(
            str(path),
            "a .csv, .tsv (optionally .gz) or .parquet file",
            repr(fmt or "no suffix"),
            "rename the file or pass format='csv'|'tsv'|'parquet'",
        )
    return fmt


def _csv_steps(table: _Table, col: str) -> np.ndarray:
    values = [("" if v is None else v.strip()) for v in table.strings(col)]
    for i, v in enumerate(values):
        if not v:
            raise data_error(f"{table.path} {table.ref(i)}, column '{col}'", "a step", "''", None)
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        pass
    parsed: list[float | None] = []
    for v in values:
        try:
            parsed.append(float(v))
        except ValueError:
            parsed.append(None)
    n_num = sum(p is not None for p in parsed)
    if n_num == 0:  # e.g. ISO time stamps: ordered as text
        return np.array(values, dtype=object)
    if n_num < len(values):
        i = parsed.index(None)
        raise data_error(
            f"{table.path} {table.ref(i)}, column '{col}'",
            "a numeric step like the other rows",
            repr(values[i]),
            "fix the step value",
        )
    return np.array(parsed, dtype=np.float64)


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
    """Read a "long" table (one row per time step) into sequences of shape ``(T, F)``.

    Rows are grouped by ``id_column`` (sequences in order of first appearance) and ordered by
    ``step_column`` when given (else file order). ``feature_columns`` defaults to every other
    column holding numbers (columns with no numeric value at all are left out and logged).
    ``label_column`` (None for unlabeled data) and ``split_column`` must be constant within a
    sequence. CSV/TSV rows are named by 1-based line number (header = line 1), Parquet rows by
    1-based row number. Empty cells, ``NA``, ``?`` and ``NaN`` count as missing values.
    """
    path = Path(path)
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    fmt = _infer_format(path, format)
    _require_file(path, f"an existing {fmt} file")
    table: _Table = (
        _ParquetTable(path) if fmt == "parquet" else _CsvTable(path, "\t" if fmt == "tsv" else ",")
    )
    if table.n == 0:
        raise data_error(str(path), "at least one data row", "none", None)
    special = [c for c in (id_column, label_column, step_column, split_column) if c is not None]
    requested = special + list(feature_columns or [])
    missing = [c for c in requested if c not in table.names]
    if missing:
        raise data_error(
            f"{path} columns",
            f"column(s) {missing}",
            f"available columns {table.names}",
            "pass existing column names (they are case-sensitive)",
        )
    if feature_columns is None:
        others = [c for c in table.names if c not in special]
        features = [c for c in others if table.is_numeric(c)]
        left_out = [c for c in others if c not in features]
        if left_out:
            logger.warning("%s: non-numeric columns left out of the features: %s", path, left_out)
    else:
        features = list(feature_columns)
        clash = [c for c in features if c in (id_column, label_column, split_column)]
        if clash:
            raise data_error(
                "argument feature_columns",
                "feature columns other than the id, label and split columns",
                f"{clash}",
                "remove them from feature_columns",
            )
    if not features:
        raise data_error(
            f"{path} columns",
            "at least one numeric feature column",
            f"columns {table.names}",
            "pass feature_columns=[...]",
        )

    ref = table.ref
    ids = table.strings(id_column)
    for i, v in enumerate(ids):
        if v is None or not v.strip():
            raise data_error(f"{path} {ref(i)}, column '{id_column}'", "a sequence id", "''", None)
    X = np.stack([table.floats(c) for c in features], axis=1)
    labels = table.strings(label_column) if label_column else None
    if labels is not None:
        for i, v in enumerate(labels):
            if v is None or not v.strip():
                raise data_error(
                    f"{path} {ref(i)}, column '{label_column}'",
                    "a label",
                    "an empty cell",
                    "fill in the label, or pass label_column=None for unlabeled data",
                )
        labels = [v.strip() for v in labels]  # type: ignore[union-attr]
    splits: list[str | None] | None = None
    if split_column:
        raw_splits = table.strings(split_column)
        splits = [
            _normalize_split(v, f"{path} {ref(i)}, column '{split_column}'")
            for i, v in enumerate(raw_splits)
        ]
    steps = None
    if step_column:
        if isinstance(table, _ParquetTable):
            steps = table.steps(step_column)
        else:
            steps = _csv_steps(table, step_column)
        for i in range(table.n):
            s = steps[i]
            if s is None or (isinstance(s, float) and np.isnan(s)):
                raise data_error(
                    f"{path} {ref(i)}, column '{step_column}'", "a step", "empty", None
                )

    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        groups.setdefault(sid.strip(), []).append(i)  # type: ignore[union-attr]

    builder = _Builder(str(path), features, nan_policy, skip_empty)
    for sid, rows in groups.items():
        idx = np.asarray(rows, dtype=np.int64)
        where = f"{path} sequence id '{sid}'"
        if steps is not None:
            st = steps[idx]
            order = np.argsort(st, kind="stable")
            idx, st = idx[order], st[order]
            same = np.nonzero(st[1:] == st[:-1])[0]
            if same.size:
                j = int(same[0])
                raise data_error(
                    f"{where}, column '{step_column}'",
                    "each step at most once per sequence",
                    f"step {_show(st[j])} on {ref(int(idx[j]))} and {ref(int(idx[j + 1]))}",
                    "remove or aggregate the duplicate rows",
                )
        label = _constant(labels, idx, where, label_column, ref)
        split = _constant(splits, idx, where, split_column, ref)

        def describe(t: int, f: int, idx: np.ndarray = idx, where: str = where) -> str:
            step = f", step {_show(steps[idx[t]])}" if steps is not None else ""
            return (
                f"{where} ({ref(int(idx[t]))}{step}), column '{features[f]}', "
                f"time step {t} (0-based)"
            )

        builder.add(X[idx], sid, label, split, where, describe)
    return builder.finish()


def _show(value: Any) -> str:
    """repr of a step value without numpy's ``np.int64(...)`` wrapper."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _constant(
    values: list[Any] | None,
    idx: np.ndarray,
    where: str,
    column: str | None,
    ref: Callable[[int], str],
) -> Any:
    if values is None:
        return None
    first = values[int(idx[0])]
    for k in idx[1:]:
        if values[int(k)] != first:
            raise data_error(
                f"{where}, column '{column}'",
                "one value for the whole sequence",
                f"{first!r} on {ref(int(idx[0]))} but {values[int(k)]!r} on {ref(int(k))}",
                "give every row of the sequence the same value, or use different ids",
            )
    return first


# ----------------------------------------------------------------------------- normalisation
class Normalizer:
    """Per-feature standardisation ``(x - mean) / std`` over all real time steps.

    Fit it on the **train split only** (see :func:`fit_normalizer`): statistics taken from
    validation or test sequences would leak them into training. ``std`` is the population
    standard deviation (ddof=0) in float64; a feature that is constant in the training data
    (std 0) gets ``std = 1``, so it maps to ``x - mean`` instead of dividing by zero. Store
    :meth:`to_dict` with the model artifact and rebuild with :meth:`from_dict` at inference.
    """

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray,
        std: Sequence[float] | np.ndarray,
        feature_names: Sequence[str] | None = None,
        n_steps: int = 0,
    ):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.n_steps = int(n_steps)

    @property
    def num_features(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(
        cls, sequences: Sequence[np.ndarray], feature_names: Sequence[str] | None = None
    ) -> Normalizer:
        """Fit on ``sequences`` (each ``(T_i, F)``, all finite) - the train split only."""
        if len(sequences) == 0:
            raise data_error("Normalizer.fit", "at least one sequence", "none", None)
        n_feat = np.asarray(sequences[0]).shape[-1]
        for i, s in enumerate(sequences):
            s = np.asarray(s)
            if s.ndim != 2 or s.shape[1] != n_feat:
                raise data_error(
                    f"Normalizer.fit sequence {i}", f"shape (T, {n_feat})", f"{s.shape}", None
                )
            if not np.isfinite(s).all():
                raise data_error(f"Normalizer.fit sequence {i}", "finite values", "NaN/inf", None)
        # Two passes in float64, one sequence at a time (no concatenated copy of the data).
        seqs = [np.asarray(s, dtype=np.float64) for s in sequences if len(s)]
        n = sum(s.shape[0] for s in seqs)
        if n == 0:
            raise data_error("Normalizer.fit", "at least one time step", "0", None)
        mean = sum(s.sum(axis=0) for s in seqs) / n
        var = sum(((s - mean) ** 2).sum(axis=0) for s in seqs) / n
        lo = np.min([s.min(axis=0) for s in seqs], axis=0)
        hi = np.max([s.max(axis=0) for s in seqs], axis=0)
        std = np.where((lo == hi) | (var == 0), 1.0, np.sqrt(var))
        return cls(mean, std, feature_names, n_steps=n)

    def transform(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return standardised float32 copies of ``sequences`` (each ``(T_i, F)``)."""
        out = []
        for i, s in enumerate(sequences):
            s = np.asarray(s)
            if s.ndim != 2 or s.shape[1] != self.num_features:
                raise data_error(
                    f"Normalizer.transform sequence {i}",
                    f"shape (T, {self.num_features})",
                    f"{s.shape}",
                    "transform sequences with the features the normalizer was fitted on",
                )
            out.append(((s.astype(np.float64) - self.mean) / self.std).astype(np.float32))
        return out

    def inverse_transform(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Undo :meth:`transform`."""
        return [
            (np.asarray(s, np.float64) * self.std + self.mean).astype(np.float32) for s in sequences
        ]

    def transform_dataset(self, dataset: SequenceDataset) -> SequenceDataset:
        """A copy of ``dataset`` with standardised sequences."""
        out = dataset.subset(range(len(dataset)))  # type: ignore[arg-type]
        out.sequences = self.transform(dataset.sequences)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain lists and numbers)."""
        return {
            "type": "standard",
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "feature_names": self.feature_names,
            "n_steps": self.n_steps,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild from :meth:`to_dict`; raises ArtifactError on a damaged state."""

        def bad(expected: str, got: str) -> ArtifactError:
            return ArtifactError(
                format_error("normalizer state", expected, got, "re-save the model artifact")
            )

        if not isinstance(d, dict) or d.get("type") != "standard":
            raise bad("a dict with type 'standard'", repr(d)[:80])
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
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
    """Fit a :class:`Normalizer` on the rows of ``dataset`` whose split is ``split``."""
    rows = [s for s, sp in zip(dataset.sequences, dataset.splits, strict=True) if sp == split]
    if not rows:
        counts: dict[str | None, int] = {}
        for sp in dataset.splits:
            counts[sp] = counts.get(sp, 0) + 1
        raise data_error(
            f"{dataset.source} splits",
            f"at least one sequence with split {split!r}",
            f"split counts {counts}",
            "read both train and test files (read_ts_pair), name the file *_TRAIN.ts, "
            "or pass split= / split_column=",
        )
    return Normalizer.fit(rows, dataset.feature_names)


__all__ = [
    "NAN_POLICIES",
    "Normalizer",
    "fit_normalizer",
    "read_long_table",
    "read_ts",
    "read_ts_pair",
]
