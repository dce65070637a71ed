"""Long tables read column by column at C speed, when the strict reader would accept them.

:func:`read_long_table_columnar` takes :func:`padless.data.long_table.read_long_table`'s
arguments and returns the very :class:`~padless.data.dataset.SequenceDataset` it would, or
None: then the strict reader decides (and its errors name the file, line and column). CSV /
TSV (gzip or not) is parsed by ``pyarrow.csv`` a block at a time, Parquet by
``pyarrow.parquet`` a row batch at a time, and no cell becomes a Python object: features go
into one float32 (N, F) array (through float64, as the strict reader rounds them), ids,
labels and splits become integer codes into their distinct values, each distinct value read
once by the strict reader's rules, steps int32 / int64 / float64 or ranks of text steps. The
``sequences[i]`` are views of that array ordered by (sequence, step): ~4·F bytes per row plus
~150 bytes per sequence; ~10 more bytes per row while reading.

None for anything it cannot decide exactly as the strict reader: JSONL; a parse or conversion
error; quoting other than whole fields quoted on one line; invalid UTF-8, a NUL, a CR not
before a LF; a cell Python reads as a number and pyarrow not (``1_000``, Arabic-Indic digits)
or pyarrow alone as NaN (``nan(1)``; also ``-nan``); ``-0`` in a column with missing cells
(Python reads it +0.0 there); an empty id or step; a duplicate step; a label or split that
changes within a sequence; a non-finite value with ``nan_policy="raise"``; an empty sequence
without ``skip_empty``; no pyarrow; any error of its own. Each reason is logged at debug
level; a dataset read here logs the strict reader's warnings, on its loggers.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from padless.data.dataset import Label, SequenceDataset
from padless.data.label_cells import LabelRule
from padless.data.numeric import (
    _MISSING,
    NAN_POLICIES,
    _is_number,
    _missing,
    _normalize_split,
    _number,
)
from padless.data.tables import infer_format
from padless.errors import import_optional

logger = logging.getLogger(__name__)
# The strict reader's warnings, on its loggers: a dataset read here is logged as it would be.
_STRICT_LOGS = (
    logging.getLogger("padless.data.long_table"),
    logging.getLogger("padless.data.numeric"),
)

__all__ = ["read_long_table_columnar"]

_BLOCK = 1 << 21  # bytes of CSV per pyarrow block (and record batch)
_BATCH = 1 << 16  # Parquet rows per record batch
# numeric.py's missing cells, in every case: pyarrow reads them as null (NaN)
_NULLS = sorted(
    {"".join(c) for w in _MISSING for c in itertools.product(*zip(w, w.upper(), strict=True))}
)


class _Fallback(Exception):
    """The strict reader must decide."""


def _need(ok: Any, why: str) -> None:
    if not ok:
        raise _Fallback(why)


def read_long_table_columnar(
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
) -> SequenceDataset | None:
    """:func:`~padless.data.long_table.read_long_table`'s dataset at C speed, or None when
    the strict reader must decide (module docstring). ``skip_bad_rows`` and
    ``check_multiline`` change nothing: a file they would matter for is left to it."""
    try:
        if nan_policy not in NAN_POLICIES or not Path(path).is_file():
            return None
        several = bool(label_columns)
        names = list(label_columns) if label_columns else [label_column] if label_column else []
        rule = LabelRule.of(task, multilabel, label_delimiter, several=several, per_row_steps=True)
        spec = _Spec(Path(path), id_column, names, step_column, split_column, feature_columns)
        spec.several = several
        return _read(spec, infer_format(spec.path, format), rule, nan_policy, skip_empty)
    except MemoryError:
        raise
    except Exception as exc:  # _Fallback, a DataError, pyarrow's errors, ...: the strict reader
        logger.debug("%s: left to the strict reader (%s: %s)", path, type(exc).__name__, exc)
        return None


@dataclass
class _Spec:
    """The columns by role, named as the strict reader names them."""

    path: Path
    id: str
    labels: list[str]
    step: str | None
    split: str | None
    chosen: Sequence[str] | None
    features: list[str] = field(default_factory=list)
    several: bool = False  # label_columns: {column: number} labels
    left_out: list[str] = field(default_factory=list)  # text columns, not features

    def special(self) -> list[str]:
        return [c for c in (self.id, *self.labels, self.step, self.split) if c is not None]


def _arrow() -> tuple[Any, Any]:
    pa = import_optional("pyarrow", "the columnar long-table reader", "parquet")
    return pa, import_optional("pyarrow.compute", "the columnar long-table reader", "parquet")


# ----------------------------------------------------------------------------- columns
class _Codes:
    """A column as integer codes into its distinct values, a record batch at a time: each
    batch as codes into its own distinct values, or as it is when they are hardly fewer."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray | None, Any]] = []  # (codes or None, values)
        self.float_type: Any = None

    def add(self, arr: Any) -> None:
        pa, pc = _arrow()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_floating(arr.type):  # by bits: -0.0 and 0.0 stay apart
            self.float_type = arr.type
            arr = arr.view(getattr(pa, f"int{arr.type.bit_width}")())
        if self.parts and self.parts[0][0] is None:  # the first batch had few repeats
            self.parts.append((None, arr))
            return
        enc = pc.dictionary_encode(arr, null_encoding="encode")
        few = len(enc.dictionary) * 2 <= len(arr)
        local = _small(enc.indices.to_numpy(), len(enc.dictionary)) if few else None
        self.parts.append((local, enc.dictionary if few else arr))

    def finish(self) -> tuple[np.ndarray, Any]:
        """(N,) codes and the distinct values (an Arrow array), in order of first appearance."""
        pa, pc = _arrow()
        every = pa.concat_arrays([values for _, values in self.parts])
        parts = [(local, len(values)) for local, values in self.parts]
        self.parts = []
        enc = pc.dictionary_encode(every, null_encoding="encode")
        del every
        pa.default_memory_pool().release_unused()  # the cells, back to the system
        glob, values = enc.indices.to_numpy(), enc.dictionary
        rows = sum(n if local is None else len(local) for local, n in parts)
        codes = np.empty(rows, _small(glob[:0], len(values)).dtype)
        at = offset = 0
        for local, n in parts:
            mine = glob[offset : offset + n] if local is None else glob[offset:][local]
            codes[at : at + len(mine)] = mine
            at, offset = at + len(mine), offset + n
        return codes, values if self.float_type is None else values.view(self.float_type)


def _small(codes: np.ndarray, n: int) -> np.ndarray:
    return codes.astype(np.int8 if n < 128 else np.int16 if n < 2**15 else np.int32, copy=False)


class _Steps:
    """The step column: numbers (int32 / int64 / float64) or text, ranked as numpy sorts it."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.text = _Codes()
        self.kinds: set[str] = set()

    def add(self, arr: Any) -> None:
        pa, pc = _arrow()
        _need(arr.null_count == 0, "an empty step")
        if pa.types.is_integer(arr.type):
            values = arr.to_numpy()
            _need(values.dtype != np.uint64 or values.max() < 2**63, "a step beyond int64")
            return self._number(values.astype(np.int64, copy=False), "int")
        if pa.types.is_floating(arr.type):
            return self._number(arr.to_numpy().astype(np.float64), "float")
        _need(pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type), "step type")
        if (
            pc.all(pc.ascii_is_decimal(arr)).as_py()
            or pc.all(pc.match_substring_regex(arr, r"^[+-]?[0-9]+$")).as_py()
        ):  # pyarrow alone would read 0x1f too
            return self._number(pc.cast(arr, pa.int64()).to_numpy(), "int")
        try:  # a cell at least is no integer: float64, if every cell is a number
            return self._number(pc.cast(arr, pa.float64()).to_numpy(), "float")
        except pa.ArrowInvalid:  # text, if Python sees no number either (finish)
            self.kinds.add("text")
            self.text.add(arr)

    def _number(self, values: np.ndarray, kind: str) -> None:
        _need(kind == "int" or not np.isnan(values).any(), "a NaN step")
        if kind == "int" and len(values) and -(2**31) <= values.min() <= values.max() < 2**31:
            values = values.astype(np.int32)
        self.kinds.add(kind)
        self.parts.append(values)

    def finish(self) -> np.ndarray:
        """(N,) sort keys: the steps, or each text step's rank among the distinct ones."""
        if self.kinds != {"text"}:
            _need("text" not in self.kinds, "numeric and text steps")
            return np.concatenate(self.parts)  # int, or float64 with any float part
        codes, array = self.text.finish()
        values = array.to_pylist()
        _need(not any(_missing(v) or _number(v) is not None for v in values), "mixed steps")
        texts = [str(v).strip() for v in values]
        _need(not any("\0" in t for t in texts), "a NUL in a step")  # numpy drops them
        rank = {t: i for i, t in enumerate(sorted(set(texts)))}
        return np.array([rank[t] for t in texts], dtype=np.int64)[codes]


@dataclass
class _Raw:
    """A table read into numpy: the float columns in ``X`` (rows beyond ``n`` unused), the
    coded columns, the steps. ``expect`` guesses the rows, to allocate ``X`` once."""

    roles: dict[str, str]  # column -> id | label | split | step | float | other | text
    columns: list[str]  # X's columns
    expect: Callable[[int], int]
    codes: dict[str, _Codes] = field(default_factory=dict)
    steps: _Steps = field(default_factory=_Steps)
    X: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    n: int = 0
    nulls: set[str] = field(default_factory=set)  # columns with a missing cell
    negative_zeros: set[str] = field(default_factory=set)  # columns with a -0

    def take(self, batch: Any, names: dict[str, str], text: bool) -> None:
        """Add a record batch (``names``: its column names -> the strict reader's); ``text``:
        its numbers were parsed from text."""
        end = self.n + batch.num_rows
        if end > len(self.X):  # rows never written take no memory
            rows = self.expect(batch.num_rows) if not self.n else 2 * end
            grown = np.empty((max(rows, end), len(self.columns)), np.float32)
            grown[: self.n] = self.X[: self.n] if self.n else 0
            self.X = grown
        for raw_name, arr in zip(batch.schema.names, batch.columns, strict=True):
            name = names[raw_name]
            role = self.roles[name]
            if role == "step":
                self.steps.add(arr)
            elif role not in ("float", "other"):
                self.codes.setdefault(name, _Codes()).add(arr)
            if role in ("float", "other") or (role == "step" and name in self.columns):
                self._floats(arr, name, text)
        self.n = end

    def _floats(self, arr: Any, name: str, text: bool) -> None:
        """Column ``name`` of the batch into ``X`` (as float64, then float32: as the strict
        reader rounds)."""
        pa, pc = _arrow()
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr, text = pc.cast(arr, pa.float64()), True  # e.g. the step column as a feature
        _need(pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type), f"{arr.type}")
        values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        if text:  # pyarrow reads 'nan(1)' as NaN, Python refuses it; Python reads '-0' as
            # +0.0 in a column with missing cells, pyarrow as -0.0
            _need(int(np.isnan(values).sum()) == arr.null_count, "a NaN cell")
            self.nulls |= {name} if arr.null_count else set()
            self.negative_zeros |= {name} if np.signbit(values[values == 0]).any() else set()
            _need(not self.nulls & self.negative_zeros, "-0 in a column with missing cells")
        with np.errstate(over="ignore"):
            self.X[self.n : self.n + len(values), self.columns.index(name)] = values


# ----------------------------------------------------------------------------- CSV / TSV
def _open(path: Path) -> Any:
    """The file's bytes, gunzipped when it is gzip (by content, as the strict reader)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - caller closes


def _text_size(path: Path) -> int:
    """The file's size, gunzipped (ISIZE: modulo 4 GiB, so at least the size on disk)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b" or size < 18:
            return size
        f.seek(-4, 2)
        return max(int.from_bytes(f.read(4), "little"), 4 * size)


def _csv_header(path: Path, delim: str) -> list[str]:
    """The header as written: the first non-blank line, read by Python's csv module."""
    with _open(path) as f:
        lines = f.read(_BLOCK).removeprefix(codecs.BOM_UTF8).split(b"\n")[:-1]
    line = next((x for x in lines if x.rstrip(b"\r")), b"")
    _need(line, "no complete header line in the first block")
    return next(csv.reader([line.decode("utf-8")], delimiter=delim, strict=True))


class _Checked:
    """A binary stream handed to pyarrow, checking as pyarrow reads it what pyarrow lets
    through but the strict reader refuses or reads otherwise: invalid UTF-8, a NUL, a CR not
    before a LF, quoting beyond whole fields on one line. At the first, it ends the stream
    early and says why in ``bad``."""

    closed = False

    def __init__(self, raw: Any, delim: str):
        self.raw, self.delim = raw, delim
        self.bad: str | None = None
        self.eof = False
        self._carry = b""  # the last line read so far, if it has not ended
        self._started = self._cr = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
        self.raw.close()

    def read(self, n: int = -1) -> bytes:
        chunk = b"" if self.bad else self.raw.read(n)
        try:
            self._check(chunk)
        except (_Fallback, UnicodeDecodeError) as exc:
            self.bad = self.bad or f"{type(exc).__name__}: {exc}"
            return b""
        return chunk

    def _check(self, chunk: bytes) -> None:
        if not chunk.isascii() or self._utf8.getstate()[0] or not chunk:
            self._utf8.decode(chunk, final=not chunk)
        self.eof = not chunk
        _need(b"\0" not in chunk, "a NUL byte")
        if b"\r" in chunk or self._cr:  # each CR ends a line, before its LF
            _need(not self._cr or chunk.startswith(b"\n"), "a bare carriage return")
            self._cr = chunk.endswith(b"\r")
            body = chunk[:-1] if self._cr else chunk
            _need(body.count(b"\r") == body.count(b"\r\n"), "a bare carriage return")
        view = chunk if self._started else chunk.removeprefix(codecs.BOM_UTF8)
        self._started = True
        cut = view.rfind(b"\n") + 1 if chunk else 0
        if (cut or not chunk) and (b'"' in self._carry or b'"' in view[:cut]):
            lines = self._carry + view[:cut] if chunk else self._carry  # whole lines
            _need(_quotes_ok(lines, self.delim), "quoting pyarrow may read otherwise")
        self._carry = view[cut:] if cut else self._carry + view


def _quotes_ok(lines: bytes, delim: str) -> bool:
    """Whether ``lines`` (whole lines) quote only whole fields, each on one line (``""`` a
    quote): the quoting pyarrow reads as Python's csv module. First a quick check that the
    quotes pair up so (no ``""``), else a full pattern (RE2: linear time)."""
    pa, pc = _arrow()
    b = np.frombuffer(lines, np.uint8)
    q = np.flatnonzero(b == 34)
    if len(q) % 2 == 0:
        opening, closing, d = q[0::2], q[1::2], ord(delim)
        before = np.where(opening > 0, b[opening - 1], 10)
        after = np.where(closing + 1 < len(b), b[np.minimum(closing + 1, len(b) - 1)], 10)
        ends = np.flatnonzero(b == 10)
        if (
            ((before == d) | (before == 10)).all()
            and ((after == d) | (after == 10) | (after == 13)).all()
            and (np.searchsorted(ends, opening) == np.searchsorted(ends, closing)).all()
        ):
            return True
    cell = rf'(?:"(?:[^"\r\n]|"")*"|[^"\r\n{delim}]*)'
    line = rf"{cell}(?:{delim}{cell})*"
    pattern = rf"\A(?:{line}\r?\n)*{line}\z"
    return bool(pc.match_substring_regex(pa.array([lines], pa.binary()), pattern)[0].as_py())


def _scan_csv(spec: _Spec, kind: str) -> tuple[_Raw, list[str]]:
    """Read a CSV / TSV: the columns by role, and the header (stripped, as the strict reader)."""
    pa, _ = _arrow()
    delim = "," if kind == "csv" else "\t"
    header = _csv_header(spec.path, delim)
    names = {h: h.strip() for h in header}
    _need(len(names) == len(header), "duplicate column names")
    stripped = list(names.values())
    roles = _roles(spec, stripped, lambda c: True)
    while True:  # auto features: a column that holds no numbers is read again as text
        try:
            return _read_csv(spec, delim, names, roles), stripped
        except pa.ArrowInvalid as exc:
            m = re.match(r"In CSV column #(\d+): CSV conversion error to double", str(exc))
            column = stripped[int(m[1])] if m else ""
            _need(roles.get(column) == "other", str(exc))
            roles[column] = "text"


def _read_csv(spec: _Spec, delim: str, names: dict[str, str], roles: dict[str, str]) -> _Raw:
    pacsv = import_optional("pyarrow.csv", f"{spec.path} (columnar reader)", "parquet")
    pa, _ = _arrow()
    read = {h: roles[c] for h, c in names.items() if c in roles}
    types = {h: pa.float64() if r in ("float", "other") else pa.string() for h, r in read.items()}
    convert = pacsv.ConvertOptions(
        column_types=types, include_columns=list(types), null_values=_NULLS,
        strings_can_be_null=False, quoted_strings_can_be_null=True,
    )  # fmt: skip
    parse = pacsv.ParseOptions(delimiter=delim, newlines_in_values=False, ignore_empty_lines=True)
    size = _text_size(spec.path)
    raw = _Raw(roles, _float_columns(spec, roles), lambda rows: int(rows * 1.1 * size / _BLOCK))
    stream = _Checked(_open(spec.path), delim)
    try:
        reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(block_size=_BLOCK),
            parse_options=parse, convert_options=convert,
        )  # fmt: skip
        for batch in reader:
            raw.take(batch, names, text=True)
    finally:
        stream.close()
    _need(stream.bad is None and stream.eof, stream.bad or "the stream was not read to its end")
    return raw


# ----------------------------------------------------------------------------- Parquet
def _scan_parquet(spec: _Spec) -> tuple[_Raw, list[str]]:
    pa, _ = _arrow()
    pq = import_optional("pyarrow.parquet", f"{spec.path} (Parquet)", "parquet")
    f = pq.ParquetFile(spec.path)
    header = list(f.schema_arrow.names)
    types = {name: f.schema_arrow.field(name).type for name in header}
    _need(len(types) == len(header), "duplicate column names")

    def numeric(c: str) -> bool:
        return bool(pa.types.is_integer(types[c]) or pa.types.is_floating(types[c]))

    roles = _roles(spec, header, numeric)
    rows = f.metadata.num_rows
    raw = _Raw(roles, _float_columns(spec, roles), lambda _: rows)
    for batch in f.iter_batches(batch_size=_BATCH, columns=list(roles)):
        raw.take(batch, {name: name for name in roles}, text=False)
    return raw, header


def _roles(spec: _Spec, names: list[str], numeric: Callable[[str], bool]) -> dict[str, str]:
    """Each column to read and its role; the checks the strict reader makes before reading."""
    if spec.split == "split" and "split" not in names:
        spec.split = None  # the default name, absent: no splits (train)
    special = spec.special()
    _need(len(set(special)) == len(special), "a column in two roles")
    _need(len(set(names)) == len(names), "duplicate column names")
    _need(all(c in names for c in [*special, *(spec.chosen or [])]), "a missing column")
    roles = {spec.id: "id", **dict.fromkeys(spec.labels, "label")}
    roles |= {c: r for c, r in ((spec.step, "step"), (spec.split, "split")) if c is not None}
    if spec.chosen is None:
        return roles | {c: "other" if numeric(c) else "text" for c in names if c not in roles}
    spec.features = list(spec.chosen)
    clash = [c for c in spec.features if c in roles and c != spec.step]
    _need(spec.features and not clash, "features clash with the id, label or split")
    _need(len(set(spec.features)) == len(spec.features), "a feature named twice")
    return roles | {c: "float" for c in spec.features if c != spec.step}


def _float_columns(spec: _Spec, roles: dict[str, str]) -> list[str]:
    """X's columns: those read as numbers, then the step if it is a feature."""
    columns = [c for c, role in roles.items() if role in ("float", "other")]
    return columns + [spec.step] if spec.step and spec.step in spec.features else columns


# ----------------------------------------------------------------------------- assembly
def _read(
    spec: _Spec, fmt: str, rule: LabelRule, nan_policy: str, skip_empty: bool
) -> SequenceDataset:
    _need(fmt in ("csv", "tsv", "parquet"), f"format {fmt}")
    raw, names = _scan_parquet(spec) if fmt == "parquet" else _scan_csv(spec, fmt)
    _need(raw.n, "no data rows")
    _auto_features(spec, raw, names)
    group, ids = _groups(raw.codes.pop(spec.id))
    key = raw.steps.finish() if spec.step else None
    order = _order(group, key)
    del key
    lengths = np.bincount(group, minlength=len(ids))
    first = np.cumsum(lengths) - lengths  # each sequence's first step: its row in the file
    first = first if order is None else order[first]
    labels, tags = _labels(raw, spec, rule, (group, first, order))
    splits: list[Any] = [None] * len(ids)
    if spec.split:
        splits = _per_sequence(raw.codes.pop(spec.split), _split, group, first)
    del group, first
    X, pick = raw.X[: raw.n], np.array([raw.columns.index(c) for c in spec.features])
    if order is not None or pick.tolist() != list(range(X.shape[1])):
        X = X[np.ix_(np.arange(raw.n) if order is None else order, pick)]
    raw.X = X  # no longer the buffer read into, if X is a copy
    parts = _policies(X, lengths, tags, nan_policy, skip_empty)
    return _dataset(spec, parts, ids, labels, splits)


def _split(value: Any) -> str | None:
    return _normalize_split(value, "split")


def _auto_features(spec: _Spec, raw: _Raw, names: list[str]) -> None:
    """Without ``feature_columns``: the other columns holding a number (the strict rule)."""
    if spec.chosen is not None:
        return
    left_out = []
    for name in names:
        role = raw.roles[name]
        if role == "other" and (~np.isnan(raw.X[: raw.n, raw.columns.index(name)])).any():
            spec.features.append(name)
        elif role in ("other", "text"):
            if role == "text":
                values = raw.codes.pop(name).finish()[1].to_pylist()
                _need(not any(map(_is_number, values)), "numbers in a text column")
            left_out.append(name)
    spec.left_out = left_out
    _need(spec.features, "no numeric feature column")


def _groups(codes: _Codes) -> tuple[np.ndarray, list[str]]:
    """Each row's sequence, numbered in order of first appearance, and the sequence ids."""
    rows, array = codes.finish()
    values = array.to_pylist()
    if _stripped(array):  # the common case: ids as written, no two alike
        _need(array.null_count == 0 and "" not in values, "an empty id")
        return rows, values
    texts = ["" if v is None else str(v).strip() for v in values]
    _need("" not in texts, "an empty id")
    index: dict[str, int] = {}
    number = np.array([index.setdefault(t, len(index)) for t in texts], dtype=np.int64)
    return number[rows], list(index)


def _stripped(array: Any) -> bool:
    """Whether no value of a text ``array`` starts or ends with what ``str.strip`` strips."""
    pa, pc = _arrow()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return False
    spaces = pa.array([c for c in map(chr, range(0x3001)) if c.isspace()], array.type)
    ends = (pc.utf8_slice_codeunits(array, 0, 1), pc.utf8_slice_codeunits(array, -1))
    return not any(pc.any(pc.is_in(end, value_set=spaces)).as_py() for end in ends)


def _order(group: np.ndarray, key: np.ndarray | None) -> np.ndarray | None:
    """The rows by (sequence, step), stably; None when they are in that order already."""
    grouped = bool((group[1:] >= group[:-1]).all())
    if key is None:
        return None if grouped else np.argsort(group, kind="stable")
    if grouped and ((group[1:] > group[:-1]) | (key[1:] > key[:-1])).all():
        return None
    low, span = (
        (int(key.min()), int(key.max()) - int(key.min()) + 1) if key.dtype.kind == "i" else (0, 0)
    )
    if 0 < span and (int(group.max()) + 1) * span < 2**63:  # one int64 key: (sequence, step)
        combined = group.astype(np.int64)
        combined *= span
        combined += key
        combined -= low
        order = np.argsort(combined)
        combined = combined[order]
        _need(not (combined[1:] == combined[:-1]).any(), "a duplicate step")
        return order
    order = np.lexsort((key, group))
    g, k = group[order], key[order]
    _need(not ((g[1:] == g[:-1]) & (k[1:] == k[:-1])).any(), "a duplicate step")
    return order


def _cells(codes: _Codes, parse: Callable[[Any], Any]) -> tuple[np.ndarray, list[Any], Any]:
    """Each row's code, each distinct cell read by ``parse``, and the class of equal readings
    of each code (None when no two are equal)."""
    rows, array = codes.finish()
    parsed = [parse(v) for v in array.to_pylist()]
    classes: dict[Any, int] = {}
    keys = [tuple(p) if isinstance(p, list) else p for p in parsed]
    same = np.array([classes.setdefault(k, len(classes)) for k in keys])
    return rows, parsed, None if len(classes) == len(keys) else same


def _per_sequence(
    codes: _Codes, parse: Callable[[Any], Any], group: np.ndarray, first: np.ndarray
) -> list[Any]:
    """The one reading of a column per sequence (that of its first step)."""
    rows, parsed, same = _cells(codes, parse)
    c = rows if same is None else _small(same, len(parsed))[rows]
    _need((c == c[first][group]).all(), "a value changing within a sequence")
    return [parsed[i] for i in rows[first].tolist()]


def _labels(
    raw: _Raw, spec: _Spec, rule: LabelRule, where: tuple[np.ndarray, np.ndarray, Any]
) -> tuple[list[Label | None], np.ndarray | None]:
    """Per-sequence labels, or (tagging) each row's tag in (sequence, step) order."""
    group, first, order = where
    none: list[Label | None] = [None] * len(first)
    if not spec.labels:
        return none, None

    def parse(v: Any) -> Any:
        return rule.parse(v, "label")

    if rule.kind == "step":
        rows, parsed, _ = _cells(raw.codes.pop(spec.labels[0]), parse)
        tags = np.empty(len(parsed), dtype=object)
        tags[:] = parsed
        return none, tags[rows if order is None else rows[order]]
    cols = [_per_sequence(raw.codes.pop(c), parse, group, first) for c in spec.labels]
    if not spec.several:
        return cols[0], None
    rows_of = zip(*cols, strict=True)
    return [{c: float(v) for c, v in zip(spec.labels, r, strict=True)} for r in rows_of], None


@dataclass
class _Parts:
    """Sequences after the NaN / empty policies: rows (N, F), lengths (S,), which were kept."""

    X: np.ndarray
    lengths: np.ndarray
    kept: np.ndarray | None
    tags: np.ndarray | None
    skipped: dict[str, int]


def _policies(
    X: np.ndarray, lengths: np.ndarray, tags: np.ndarray | None, nan_policy: str, skip: bool
) -> _Parts:
    """:func:`padless.data.numeric._build`'s NaN / empty policies, on all sequences at once."""
    bad = np.isfinite(X)
    if bad.all():
        return _Parts(X, lengths, None, tags, {})
    np.logical_not(bad, out=bad)
    _need(nan_policy != "raise", "a non-finite value")
    if nan_policy == "zero":
        X[bad] = 0
        return _Parts(X, lengths, None, tags, {"nan_values_zeroed": int(bad.sum())})
    rows = ~bad.any(axis=1)
    del bad
    counts = np.add.reduceat(rows.astype(np.int64), np.cumsum(lengths) - lengths)
    skipped = {"nan_steps_dropped": int(len(rows) - rows.sum())}
    kept = counts > 0
    if not kept.all():
        _need(skip, "an empty sequence")
        skipped["empty_sequences"] = int(len(kept) - kept.sum())
    return _Parts(X[rows], counts[kept], kept, None if tags is None else tags[rows], skipped)


def _dataset(
    spec: _Spec, parts: _Parts, ids: list[str], labels: list[Any], splits: list[Any]
) -> SequenceDataset:
    """Sequences as views of ``parts.X``, with the ids, labels and splits of those kept."""
    if parts.kept is not None:
        keep = parts.kept.tolist()
        kept = (ids, labels, splits)
        ids, labels, splits = ([v for v, k in zip(x, keep, strict=True) if k] for x in kept)
    ends = np.cumsum(parts.lengths)
    bounds = list(zip((ends - parts.lengths).tolist(), ends.tolist(), strict=True))
    sequences = [parts.X[a:b] for a, b in bounds]
    if parts.tags is not None:
        labels = [parts.tags[a:b].tolist() for a, b in bounds]
    if spec.left_out:
        message = "%s: non-numeric columns left out of the features: %s"
        _STRICT_LOGS[0].warning(message, spec.path, spec.left_out)
    if parts.skipped:
        _STRICT_LOGS[1].warning("%s: skipped on purpose: %s", spec.path, parts.skipped)
    source = str(spec.path)
    return SequenceDataset(sequences, labels, splits, ids, spec.features, source, parts.skipped)
