"""Prediction inputs read from a file or stdin, streamed in chunks: :func:`read_inputs`.

``padless predict`` reads its inputs with it, by the file's suffix (optionally ``.gz``; gzip is
recognised by content):

* a table, ``.csv``, ``.tsv``, ``.parquet`` (``.pq``): one input per row, from its text column
  (``text_column``), read like training data: CSV / TSV strictly, so a stray quote never merges
  rows (see :mod:`padless.data.delimited`), each row exactly one input, in order;
* JSON lines, ``.jsonl`` / ``.ndjson`` / ``.json``, or input whose first non-empty line starts
  with ``{``: each line's ``text_column`` field, else its ``text`` or ``inputs`` field (a text,
  or a token-id / numeric sequence, what numeric models read);
* anything else (``.txt``, stdin): one text per line.

The file is read line by line (Parquet a batch of rows at a time), so memory stays flat
however large it is, and every error names the file and line (Parquet: row). Torch-free (the
``[edge]`` install predicts with it).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from padless.data.delimited import DelimitedReader
from padless.errors import data_error, import_optional

_TABLES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_JSONL = (".jsonl", ".ndjson", ".json")


def input_kind(source: str) -> str | None:
    """How :func:`read_inputs` reads ``source``: ``"csv"``, ``"tsv"``, ``"parquet"``,
    ``"jsonl"``, or None (one input per line, JSON lines if the first starts with ``{``)."""
    if source == "-":
        return None
    suffixes = [s.lower() for s in Path(source).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    return _TABLES.get(ext, "jsonl" if ext in _JSONL else None)


def read_inputs(
    source: str,
    chunk_size: int = 4096,
    progress: Callable[[int], Any] | None = None,
    *,
    text_column: str = "text",
    check_multiline: bool = True,
) -> Iterator[tuple[int, list, str]]:
    """Stream ``(offset, inputs, where)`` chunks of at most ``chunk_size`` inputs from a file
    or ``-`` (stdin), so memory stays flat however large the input (formats: module docstring).

    Tables give the ``text_column`` of each row (an empty text is refused: each row gets one
    prediction); plain lines are one text each (empty lines are refused); JSON lines give each
    line's ``text_column``, ``text`` or ``inputs`` field (blank lines are skipped).
    ``check_multiline``: see :class:`padless.data.delimited.DelimitedReader`. ``offset`` is the
    0-based input number of the chunk's first input; errors name the file and line.
    ``progress(n)`` is called with the bytes of the file read for each chunk.
    """
    if source != "-" and not Path(source).is_file():
        raise data_error(
            source,
            "an existing input file",
            "no such file",
            "check the path, or pass --input - to read stdin",
        )
    kind = input_kind(source)
    if kind == "parquet":
        yield from _parquet_chunks(source, text_column, chunk_size, progress)
        return
    raw: BinaryIO = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    where = "<stdin>" if source == "-" else source
    try:
        stream: BinaryIO = raw
        peek = getattr(raw, "peek", None)  # files and stdin are buffered: they can peek
        if peek is not None and peek(2)[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        lines = _Lines(stream, where)
        position = raw.tell if stream is not raw else lambda: lines.nbytes
        items: Iterable[Any]
        if kind in ("csv", "tsv"):
            items = _table_texts(lines, where, kind, text_column, check_multiline)
        else:
            items = _line_inputs(lines, where, kind == "jsonl" or None, text_column)
        for offset, chunk in _chunked(items, chunk_size, progress, position):
            yield offset, chunk, where
    except (OSError, EOFError, zlib.error) as exc:
        if stream is raw:
            raise
        got, fix = f"{type(exc).__name__}: {exc}", "compress or download the file again"
        raise data_error(where, "a complete gzip file", got, fix) from None
    finally:
        if source != "-":
            raw.close()


def _chunked(
    items: Iterable[Any],
    size: int,
    progress: Callable[[int], Any] | None,
    position: Callable[[], int],
) -> Iterator[tuple[int, list]]:
    """``(offset, chunk)`` of at most ``size`` items; ``progress`` gets the bytes read since the
    last call after each chunk."""
    chunk: list = []
    offset = reported = 0
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield offset, chunk
            offset, chunk = offset + len(chunk), []
            if progress is not None:
                now = position()
                progress(now - reported)
                reported = now
    if chunk:
        yield offset, chunk
    if progress is not None and position() > reported:
        progress(position() - reported)


class _Lines:
    """The decoded lines of a binary stream (endings kept), numbered from 1: ``n`` is the last
    line read, ``nbytes`` the bytes read. Invalid UTF-8 raises naming the line."""

    def __init__(self, stream: BinaryIO, where: str):
        self.stream, self.where = stream, where
        self.n = self.nbytes = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.n += 1
            self.nbytes += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise data_error(
                    f"{self.where} line {self.n}",
                    "UTF-8 text",
                    "invalid UTF-8 bytes",
                    "re-encode as UTF-8",
                ) from None
            yield line[1:] if self.n == 1 and line.startswith("\ufeff") else line


def _line_inputs(lines: _Lines, where: str, jsonl: bool | None, text_column: str) -> Iterator:
    """One text per line, or with ``jsonl`` (None: decided by the first non-empty line) one
    JSON object per line."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if jsonl is None and line.strip():
            jsonl = line.lstrip().startswith("{")
        if not line.strip():
            if jsonl:
                continue
            raise data_error(
                f"{where} line {lines.n}",
                "one non-empty text per line",
                "an empty line",
                "remove empty lines",
            )
        yield _json_input(line, where, lines.n, text_column) if jsonl else line


def _table_texts(
    lines: _Lines, where: str, kind: str, text_column: str, check_multiline: bool
) -> Iterator[str]:
    """The text column of each row of a CSV / TSV, read strictly (one row, one input)."""
    csv.field_size_limit(2**31 - 1)
    reader = DelimitedReader(lines, where, kind, check_multiline=check_multiline)
    j = _column(reader.header, text_column, where)
    for n, record in reader:
        yield _text(record[j], f"{where} line {n}, column '{text_column}'")


def _parquet_chunks(
    source: str, text_column: str, size: int, progress: Callable[[int], Any] | None
) -> Iterator[tuple[int, list, str]]:
    """Chunks of a Parquet file's text column, read a batch of rows at a time."""
    pq = import_optional("pyarrow.parquet", f"{source} (Parquet)", "parquet")
    try:
        f = pq.ParquetFile(source)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        fix = "check the file (write it again with pyarrow or pandas)"
        raise data_error(source, "a Parquet file", str(exc), fix) from None
    _column(list(f.schema_arrow.names), text_column, source)
    total, nbytes = max(f.metadata.num_rows, 1), Path(source).stat().st_size
    offset = reported = 0
    for batch in f.iter_batches(batch_size=size, columns=[text_column]):
        chunk = [
            _text(value, f"{source} row {offset + i + 1}, column '{text_column}'")
            for i, value in enumerate(batch.column(0).to_pylist())
        ]
        if not chunk:
            continue
        yield offset, chunk, source
        offset += len(chunk)
        if progress is not None:
            now = nbytes * offset // total
            progress(now - reported)
            reported = now


def _column(names: list[str], text_column: str, where: str) -> int:
    if text_column not in names:
        raise data_error(
            where,
            f"a text column named '{text_column}'",
            f"columns {names}",
            f"rename the column or pass --text-column (one of {names})",
        )
    return names.index(text_column)


def _text(value: Any, where: str) -> Any:
    """A table cell as an input: a non-empty text (or, from Parquet, a numeric sequence)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise data_error(where, "a text", repr(value), "store the text as a string")
    if not value.strip():
        fix = "fill in the text or remove the row (every row gets one prediction)"
        raise data_error(where, "a non-empty text", "an empty value", fix)
    return value


def _json_input(line: str, where: str, n: int, text_column: str) -> Any:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise data_error(
            f"{where} line {n}",
            f'a JSON object like {{"{text_column}": "..."}}',
            repr(line[:60]),
            "fix that line",
        ) from None
    value = None
    if isinstance(obj, dict):
        key = next((k for k in (text_column, "text", "inputs") if k in obj), None)
        value = obj[key] if key is not None else None
    if not isinstance(value, (str, list)):
        raise data_error(
            f"{where} line {n}",
            f'an object with a "{text_column}" string or an "inputs" sequence',
            repr(line[:60]),
            f'write {{"{text_column}": "..."}} or {{"inputs": [[0.1, 2.0], ...]}}',
        )
    return value
