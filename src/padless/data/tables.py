"""Datasets in memory and the readers that build them.

Two containers cover every task:

* :class:`TextDataset` - raw strings plus labels (classification of text).
* :class:`SequenceDataset` - numeric sequences, each a float32 array of shape (T_i, F).

Labels are kept as strings (or lists of strings for multi-label) until
:class:`padless.labels.LabelSpace` maps them to integer ids, so a dataset file never decides the
label order by accident.
Every row is accounted for: readers raise on bad rows (naming the file, row and field) unless
asked to skip, and skipped rows are counted in ``dataset.skipped``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from pathlib import Path

from padless.errors import data_error

logger = logging.getLogger(__name__)

TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def infer_format(path: Path, fmt: str | None = None) -> str:
    """Return the table format from ``fmt`` or the file suffix (``.csv``, ``.tsv``, ``.jsonl``,
    ``.parquet``, each optionally ``.gz`` except Parquet)."""
    if fmt is not None:
        if fmt not in TABLE_FORMATS:
            raise data_error(
                str(path),
                f"a format among {', '.join(TABLE_FORMATS)}",
                repr(fmt),
                "pass format='csv' (or tsv, jsonl, parquet)",
            )
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet", "txt": "tsv"}.get(ext, ext)
    if ext not in TABLE_FORMATS:
        raise data_error(
            str(path),
            "a file ending in .csv, .tsv, .jsonl or .parquet (optionally .gz)",
            f"suffix {''.join(path.suffixes) or '(none)'}",
            "rename the file or pass format='csv' (or tsv, jsonl, parquet)",
        )
    return ext


def _read_text_file(path: Path) -> str:
    """Read a (possibly gzipped) UTF-8 file; invalid UTF-8 raises naming the line."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
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


def read_table(
    path: str | Path, fmt: str | None = None
) -> tuple[list[str], list[tuple[int, dict]]]:
    """Read a table into ``(columns, [(line_number, row_dict), ...])``.

    ``line_number`` is the 1-based line of the row in the file (the header is line 1 for CSV/TSV;
    the row index + 1 for Parquet), so errors can point at it.
    """
    p = Path(path)
    if not p.is_file():
        raise data_error(
            str(p),
            "an existing data file",
            "no such file",
            "check the path (relative paths are resolved from the current directory)",
        )
    kind = infer_format(p, fmt)
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise data_error(
                str(p),
                "pyarrow to read Parquet",
                "pyarrow is not installed",
                "pip install 'padless[parquet]'",
            ) from None
        table = pq.read_table(p)
        cols = list(table.column_names)
        return cols, [(i + 1, row) for i, row in enumerate(table.to_pylist())]
    text = _read_text_file(p)
    if kind == "jsonl":
        rows: list[tuple[int, dict]] = []
        cols_seen: dict[str, None] = {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise data_error(
                    f"{p} line {lineno}",
                    "one JSON object per line",
                    f"invalid JSON ({exc.msg})",
                    "fix or remove that line",
                ) from None
            if not isinstance(obj, dict):
                raise data_error(
                    f"{p} line {lineno}",
                    "a JSON object",
                    type(obj).__name__,
                    'write each line as {"text": ..., "label": ...}',
                )
            cols_seen.update(dict.fromkeys(obj))
            rows.append((lineno, obj))
        return list(cols_seen), rows
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
    try:
        header = next(reader)
    except StopIteration:
        raise data_error(str(p), "a header row", "an empty file", "add a header line") from None
    rows = []
    for record in reader:
        lineno = reader.line_num
        if not record:
            continue
        if len(record) != len(header):
            raise data_error(
                f"{p} line {lineno}",
                f"{len(header)} fields ({', '.join(header)})",
                f"{len(record)} fields",
                "quote fields that contain the delimiter or newlines",
            )
        rows.append((lineno, dict(zip(header, record, strict=True))))
    return header, rows
