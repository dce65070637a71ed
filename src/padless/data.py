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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from padless.errors import data_error

logger = logging.getLogger(__name__)

Label = str | list[str]


@dataclass
class TextDataset:
    """Texts with labels; ``splits[i]`` is train, valid, test or None when unknown."""

    texts: list[str]
    labels: list[Label]
    splits: list[str | None]
    source: str = "<memory>"
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int] | np.ndarray) -> TextDataset:
        idx = [int(i) for i in indices]
        return TextDataset(
            texts=[self.texts[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            source=self.source,
            skipped=dict(self.skipped),
        )

    def split(self, name: str) -> TextDataset:
        return self.subset([i for i, s in enumerate(self.splits) if s == name])


@dataclass
class SequenceDataset:
    """Numeric sequences: ``sequences[i]`` is float32 (T_i, F); labels are strings (or None)."""

    sequences: list[np.ndarray]
    labels: list[Label | None]
    splits: list[str | None]
    ids: list[str]
    feature_names: list[str]
    source: str = "<memory>"
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    def lengths(self) -> np.ndarray:
        return np.array([s.shape[0] for s in self.sequences], dtype=np.int64)

    def subset(self, indices: list[int] | np.ndarray) -> SequenceDataset:
        idx = [int(i) for i in indices]
        return SequenceDataset(
            sequences=[self.sequences[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            ids=[self.ids[i] for i in idx],
            feature_names=list(self.feature_names),
            source=self.source,
            skipped=dict(self.skipped),
        )

    def split(self, name: str) -> SequenceDataset:
        return self.subset([i for i, s in enumerate(self.splits) if s == name])


# --------------------------------------------------------------------------- table readers

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


def _require_column(path: Path, columns: list[str], name: str, role: str) -> None:
    if name not in columns:
        raise data_error(
            f"{path}",
            f"a {role} column named '{name}'",
            f"columns {columns}",
            f"rename the column or set data.{role}_column to one of {columns}",
        )


def read_text_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    split_column: str | None = "split",
    fmt: str | None = None,
    multilabel: bool = False,
    label_delimiter: str | None = None,
    skip_empty: bool = False,
) -> TextDataset:
    """Read a text-classification table (CSV / TSV / JSONL / Parquet).

    Multi-label rows hold a JSON list (JSONL / Parquet) or a string split on ``label_delimiter``.
    A missing ``split_column`` is fine when it is the default name; rows then have split None.
    Empty texts raise (naming the row) unless ``skip_empty=True``, which counts them in
    ``dataset.skipped['empty_text']``.
    """
    p = Path(path)
    columns, rows = read_table(p, fmt)
    _require_column(p, columns, text_column, "text")
    _require_column(p, columns, label_column, "label")
    use_split = split_column is not None and split_column in columns
    if split_column is not None and not use_split and split_column != "split":
        _require_column(p, columns, split_column, "split")
    texts, labels, splits = [], [], []
    skipped = 0
    for lineno, row in rows:
        where = f"{p} line {lineno}"
        text = row.get(text_column)
        if not isinstance(text, str):
            raise data_error(
                f"{where}, column '{text_column}'",
                "a string",
                repr(text),
                "store the text as a string",
            )
        if not text.strip():
            if skip_empty:
                skipped += 1
                continue
            raise data_error(
                f"{where}, column '{text_column}'",
                "non-empty text",
                "an empty value",
                "remove the row, or set data.skip_empty = true to skip and count it",
            )
        labels.append(
            _parse_label(
                row.get(label_column),
                multilabel,
                label_delimiter,
                f"{where}, column '{label_column}'",
            )
        )
        texts.append(text)
        split = row.get(split_column) if use_split else None
        splits.append(str(split).strip().lower() if split not in (None, "") else None)
    if skipped:
        logger.warning("%s: skipped %d rows with empty text (data.skip_empty = true)", p, skipped)
    if not texts:
        raise data_error(str(p), "at least one row", "no rows", "check the file content")
    return TextDataset(
        texts, labels, splits, source=str(p), skipped={"empty_text": skipped} if skipped else {}
    )


def _parse_label(value: Any, multilabel: bool, delimiter: str | None, where: str) -> Label:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise data_error(where, "a label", "an empty value", "fill in the label or remove the row")
    if multilabel:
        if isinstance(value, list):
            items = [str(v).strip() for v in value]
        elif isinstance(value, str):
            if delimiter is None:
                raise data_error(
                    where,
                    "a list of labels",
                    repr(value),
                    "write a JSON list, or set data.label_delimiter (e.g. '|')",
                )
            items = [v.strip() for v in value.split(delimiter)]
        else:
            items = [str(value)]
        return sorted({v for v in items if v})
    if isinstance(value, list):
        raise data_error(
            where, "a single label", repr(value), "set data.multilabel = true for multi-label data"
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


# --------------------------------------------------------------------------- splits


def assign_validation(splits: list[str | None], fraction: float, seed: int) -> list[str]:
    """Rows without a split become ``train``; if no ``valid`` rows exist, move a seeded
    ``fraction`` of train rows to ``valid`` (never touching ``test``)."""
    out = [s if s is not None else "train" for s in splits]
    unknown = sorted({s for s in out} - {"train", "valid", "validation", "dev", "test"})
    if unknown:
        raise data_error(
            "split column",
            "train, valid (or validation/dev) or test",
            repr(unknown),
            "rename the split values",
        )
    out = ["valid" if s in ("validation", "dev") else s for s in out]
    if "valid" not in out and fraction > 0:
        train_idx = np.array([i for i, s in enumerate(out) if s == "train"])
        rng = np.random.default_rng(seed)
        n_valid = int(round(len(train_idx) * fraction))
        for i in rng.permutation(train_idx)[:n_valid]:
            out[int(i)] = "valid"
    return out
