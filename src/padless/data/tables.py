"""The one reader of data tables: CSV, TSV, JSONL and Parquet files.

Both table readers build on it: text tables (:mod:`padless.data.text_table`) take the rows as
dicts (:func:`read_table`), long tables (:mod:`padless.data.long_table`) take whole columns
(:func:`read_columns`, a :class:`Columns` view). Either way each data row keeps the number
errors cite: its 1-based ``line`` in the file for CSV / TSV / JSONL (the header is line 1; a
row spanning lines has the number of its last line) or its 1-based ``row`` for Parquet.

The format comes from ``fmt`` or the file suffix (:func:`infer_format`). Text files may be
gzip-compressed (recognised by their content, not their name) and may start with a UTF-8
byte-order mark; blank lines hold no row; CSV / TSV header names are stripped of surrounding
spaces. A bad file raises a :class:`~padless.errors.DataError` naming the file and line: invalid
UTF-8, a malformed row (below), a corrupt gzip or Parquet file. Parquet needs pyarrow
(``pip install padless[parquet]``).

CSV / TSV rows are read strictly, a stray quote never merging rows: :mod:`padless.data.delimited`
has the malformed-row rule. JSONL: a line that is not a JSON object is malformed. Parquet is
typed: nothing to check. A malformed row raises naming the file and line, or with
``bad_rows=BadRows()`` (``data.skip_bad_rows = true``) is skipped and recorded there.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from padless.data.delimited import BadRows, DelimitedReader, read_records
from padless.errors import data_error, import_optional

TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")

_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet", "txt": "tsv"}

Row = dict[str, Any]

SKIP_HINT = "; or set data.skip_bad_rows = true to skip and count such rows"


@dataclass(frozen=True)
class Columns:
    """A table as whole columns: ``cells[name][i]`` is data row ``i``'s value (text for CSV /
    TSV; typed, None when absent, for JSONL / Parquet). ``names`` keeps the header as written,
    duplicates included; ``numbers[i]`` is the row's ``unit`` number (``line`` or ``row``)."""

    path: Path
    names: list[str]
    cells: dict[str, list[Any]]
    unit: str
    numbers: Sequence[int]

    def __len__(self) -> int:
        return len(self.numbers)

    def ref(self, i: int) -> str:
        """How errors name data row ``i``, e.g. ``"line 7"`` or ``"row 6"``."""
        return f"{self.unit} {self.numbers[i]}"


def infer_format(path: Path, fmt: str | None = None) -> str:
    """Return the table format from ``fmt`` or the file suffix (``.csv``, ``.tsv``, ``.jsonl``,
    ``.parquet``, each optionally ``.gz``; ``.json`` / ``.ndjson`` are JSONL, ``.pq`` Parquet,
    ``.txt`` TSV). ``fmt`` is case-insensitive."""
    if fmt is not None:
        if fmt.lower() not in TABLE_FORMATS:
            raise data_error(
                str(path),
                f"a format among {', '.join(TABLE_FORMATS)}",
                repr(fmt),
                "pass format='csv' (or tsv, jsonl, parquet)",
            )
        return fmt.lower()
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = _ALIASES.get(ext, ext)
    if ext not in TABLE_FORMATS:
        raise data_error(
            str(path),
            "a file ending in .csv, .tsv, .jsonl or .parquet (optionally .gz)",
            f"suffix {''.join(path.suffixes) or '(none)'}",
            "rename the file or pass format='csv' (or tsv, jsonl, parquet)",
        )
    return ext


def read_table(
    path: str | Path,
    fmt: str | None = None,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
) -> tuple[list[str], list[tuple[int, Row]]]:
    """Read a table into ``(columns, [(line_number, row_dict), ...])``.

    ``line_number`` is the 1-based line of the row in the file (the header is line 1 for CSV/TSV;
    the row index + 1 for Parquet), so errors can point at it. A malformed row (see the module
    docstring) raises, or with ``bad_rows`` given is skipped and recorded in it;
    ``check_multiline=False`` trusts quoted fields that span lines.
    """
    p, kind = _existing(path, fmt)
    if kind == "parquet":
        table = _read_parquet(p)
        return list(table.column_names), [(i + 1, row) for i, row in enumerate(table.to_pylist())]
    if kind == "jsonl":
        return _read_jsonl(p, bad_rows)
    header, records = _read_delimited(p, kind, bad_rows, check_multiline)
    return header, [(n, dict(zip(header, rec, strict=True))) for n, rec in records]


def read_columns(
    path: str | Path,
    fmt: str | None = None,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
) -> Columns:
    """Read a table column by column (see :class:`Columns`). JSONL rows may hold different
    keys: the columns are every key in order of first appearance, None where a row lacks one.
    ``bad_rows``, ``check_multiline``: as for :func:`read_table`."""
    p, kind = _existing(path, fmt)
    if kind == "parquet":
        table = _read_parquet(p)
        numbers = range(1, table.num_rows + 1)
        return Columns(p, list(table.column_names), table.to_pydict(), "row", numbers)
    if kind == "jsonl":
        names, rows = _read_jsonl(p, bad_rows)
        cells = {name: [row.get(name) for _, row in rows] for name in names}
        return Columns(p, names, cells, "line", [n for n, _ in rows])
    header, records = _read_delimited(p, kind, bad_rows, check_multiline)
    cells = {name: [rec[j] for _, rec in records] for j, name in enumerate(header)}
    return Columns(p, header, cells, "line", [n for n, _ in records])


def iter_table(
    path: str | Path,
    fmt: str | None = None,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
    chunk_rows: int = 65536,
    progress: Callable[[int], Any] | None = None,
) -> tuple[list[str], Iterator[Columns]]:
    """Stream a table: ``(columns, chunks)``, each chunk a :class:`Columns` of at most
    ``chunk_rows`` rows with the values and numbers :func:`read_table` gives them (a name the
    header repeats holds its last column's values, as in :func:`read_table`'s dicts), so
    memory stays bounded by a chunk however large the file. The file is read as it is consumed
    (gzip decompressed on the fly, Parquet a row batch at a time); ``progress(n)`` gets the
    bytes of the file read since its last call, once per chunk.

    The columns of a JSONL file are the keys of its first object (a later row lacking one of
    them reads None there). Errors are :func:`read_table`'s; a CSV / TSV multi-line field is
    checked against the values of the rows read before it (:mod:`padless.data.delimited`)."""
    p, kind = _existing(path, fmt)
    if kind == "parquet":
        return _parquet_stream(p, chunk_rows, progress)
    raw = open(p, "rb")  # noqa: SIM115 - closed when the chunks are exhausted or dropped
    try:
        stream: Any = raw
        if raw.peek(2)[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw)
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        if kind == "jsonl":
            return _jsonl_stream(p, raw, text, bad_rows, chunk_rows, progress)
        csv.field_size_limit(2**31 - 1)
        with _decoding(p):
            reader = DelimitedReader(
                text,
                str(p),
                kind,
                bad_rows=bad_rows,
                check_multiline=check_multiline,
                hint=SKIP_HINT,
            )
    except BaseException:
        raw.close()
        raise
    header = reader.header
    index = {name: j for j, name in enumerate(header)}  # a repeated name: its last column

    def columns(pairs: list[tuple[int, list[str]]]) -> Columns:
        fields = list(zip(*(record for _, record in pairs), strict=True))
        cells = {name: list(fields[j]) for name, j in index.items()}
        return Columns(p, header, cells, "line", [n for n, _ in pairs])

    return header, _chunks(p, raw, text, iter(reader), chunk_rows, progress, columns)


def _chunks(
    p: Path,
    raw: BinaryIO,
    text: io.TextIOWrapper,
    rows: Iterator[Any],
    size: int,
    progress: Callable[[int], Any] | None,
    columns: Callable[[list[Any]], Columns],
) -> Iterator[Columns]:
    """``columns`` of lists of at most ``size`` rows; closes the file at the end. ``text``
    (the decoding wrapper over ``raw``) is held until then: dropping it would close ``raw``
    early."""
    reported = 0
    try:
        with _decoding(p):
            while chunk := list(itertools.islice(rows, size)):
                if progress is not None:
                    now = raw.tell()
                    progress(now - reported)
                    reported = now
                yield columns(chunk)
    finally:
        text.close()
        raw.close()


def _jsonl_stream(
    p: Path,
    raw: BinaryIO,
    text: io.TextIOWrapper,
    bad_rows: BadRows | None,
    size: int,
    progress: Callable[[int], Any] | None,
) -> tuple[list[str], Iterator[Columns]]:
    def rows() -> Iterator[tuple[int, Row]]:
        for lineno, line in enumerate(text, start=1):
            if line.strip():
                row = _json_row(p, lineno, line, bad_rows)
                if row is not None:
                    yield lineno, row

    it = rows()
    with _decoding(p):
        first = next(it, None)
    head = [] if first is None else [first]
    names = list(first[1]) if first else []

    def columns(pairs: list[tuple[int, Row]]) -> Columns:
        cells = {name: [row.get(name) for _, row in pairs] for name in names}
        return Columns(p, names, cells, "line", [n for n, _ in pairs])

    chunks = _chunks(p, raw, text, itertools.chain(head, it), size, progress, columns)
    return names, chunks


def _parquet_stream(
    p: Path, size: int, progress: Callable[[int], Any] | None
) -> tuple[list[str], Iterator[Columns]]:
    pq = import_optional("pyarrow.parquet", f"{p} (Parquet)", "parquet")
    try:
        f = pq.ParquetFile(p)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        fix = "check the file (write it again with pyarrow or pandas)"
        raise data_error(str(p), "a Parquet file", str(exc), fix) from None
    total, nbytes = max(f.metadata.num_rows, 1), p.stat().st_size
    names = list(f.schema_arrow.names)

    def chunks() -> Iterator[Columns]:
        n = reported = 0
        for batch in f.iter_batches(batch_size=size):
            cells = batch.to_pydict()
            yield Columns(p, names, cells, "row", range(n + 1, n + batch.num_rows + 1))
            n += batch.num_rows
            if progress is not None:
                now = nbytes * n // total
                progress(now - reported)
                reported = now

    return names, chunks()


@contextlib.contextmanager
def _decoding(p: Path) -> Iterator[None]:
    """Turn a decoding failure while streaming into the error :func:`read_table` gives: a
    corrupt gzip file, or invalid UTF-8 naming its line (found by reading the file again)."""
    try:
        yield
    except UnicodeDecodeError:
        _read_text_file(p)  # raises naming the line
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        got, fix = f"{type(exc).__name__}: {exc}", "compress or download the file again"
        raise data_error(str(p), "a complete gzip file", got, fix) from None


# ----------------------------------------------------------------------------- formats
def _existing(path: str | Path, fmt: str | None) -> tuple[Path, str]:
    p = Path(path)
    if not p.is_file():
        raise data_error(
            str(p),
            "an existing data file",
            "no such file",
            "check the path (relative paths are resolved from the current directory)",
        )
    return p, infer_format(p, fmt)


def _read_parquet(p: Path) -> Any:
    """The file as a ``pyarrow.Table``."""
    pq = import_optional("pyarrow.parquet", f"{p} (Parquet)", "parquet")
    try:
        return pq.read_table(p)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        fix = "check the file (write it again with pyarrow or pandas)"
        raise data_error(str(p), "a Parquet file", str(exc), fix) from None


def _read_text_file(path: Path) -> str:
    """Read a (possibly gzipped) UTF-8 file; invalid UTF-8 raises naming the line."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            got, fix = f"{type(exc).__name__}: {exc}", "compress or download the file again"
            raise data_error(str(path), "a complete gzip file", got, fix) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise data_error(
            f"{path} line {line}",
            "UTF-8 text",
            f"invalid byte {raw[exc.start : exc.start + 1]!r} at byte offset {exc.start}",
            "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def _read_jsonl(p: Path, bad_rows: BadRows | None) -> tuple[list[str], list[tuple[int, Row]]]:
    rows: list[tuple[int, Row]] = []
    cols_seen: dict[str, None] = {}
    for lineno, line in enumerate(_read_text_file(p).splitlines(), start=1):
        if not line.strip():
            continue
        obj = _json_row(p, lineno, line, bad_rows)
        if obj is not None:
            cols_seen.update(dict.fromkeys(obj))
            rows.append((lineno, obj))
    return list(cols_seen), rows


def _json_row(p: Path, lineno: int, line: str, bad_rows: BadRows | None) -> Row | None:
    """The object on a JSONL line; None for a malformed line skipped into ``bad_rows``."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        expected, got = "one JSON object per line", f"invalid JSON ({exc.msg})"
    else:
        if isinstance(obj, dict):
            return obj
        expected, got = "a JSON object", type(obj).__name__
    if bad_rows is None:
        fix = 'write each line as {"text": ..., "label": ...}, or remove it' + SKIP_HINT
        raise data_error(f"{p} line {lineno}", expected, got, fix)
    bad_rows.add(lineno, got)
    return None


def _read_delimited(
    p: Path, kind: str, bad_rows: BadRows | None, check_multiline: bool
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and ``(line, fields)`` of each non-blank record of a CSV / TSV."""
    lines = io.StringIO(_read_text_file(p), newline="").readlines()
    return read_records(
        lines, str(p), kind, bad_rows=bad_rows, check_multiline=check_multiline, hint=SKIP_HINT
    )
