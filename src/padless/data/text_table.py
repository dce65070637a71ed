"""Text-classification tables: one example per row, a text column and a label column.

:func:`read_text_table` reads a CSV / TSV / JSONL / Parquet file through the shared table
reader (:func:`padless.data.tables.read_table`) into a
:class:`~padless.data.dataset.TextDataset`, taking the text, label and (optional) split from
the columns it is told. Multi-label rows hold a JSON list (JSONL / Parquet) or a string split on
``label_delimiter``; integral float labels (``1.0`` from Parquet) become ``"1"``. An empty text
raises naming the file, line and column, or with ``skip_empty=True`` is counted in
``dataset.skipped["empty_text"]``; a missing label always raises. A malformed row (an unclosed
quote, a wrong number of fields, a line that is no JSON object: see :mod:`padless.data.tables`)
raises naming the file and line, or with ``skip_bad_rows=True`` is skipped, counted in
``dataset.skipped["bad_rows"]`` and logged with the first line numbers.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from padless.data.dataset import Label, TextDataset
from padless.data.delimited import BadRows
from padless.data.tables import read_table
from padless.errors import data_error

logger = logging.getLogger(__name__)


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
    skip_bad_rows: bool = False,
    check_multiline: bool = True,
) -> TextDataset:
    """Read a text-classification table (CSV / TSV / JSONL / Parquet).

    Multi-label rows hold a JSON list (JSONL / Parquet) or a string split on ``label_delimiter``.
    A missing ``split_column`` is fine when it is the default name; rows then have split None.
    Empty texts raise (naming the row) unless ``skip_empty=True``, which counts them in
    ``dataset.skipped['empty_text']``. Malformed rows raise unless ``skip_bad_rows=True``,
    which counts them in ``dataset.skipped['bad_rows']`` and logs their first line numbers;
    ``check_multiline=False`` trusts quoted fields that span lines (see
    :mod:`padless.data.delimited`).
    """
    p = Path(path)
    bad = BadRows() if skip_bad_rows else None
    columns, rows = read_table(p, fmt, bad_rows=bad, check_multiline=check_multiline)
    if bad is not None and bad.count:
        logger.warning("%s: %s (data.skip_bad_rows = true)", p, bad)
    _require_column(p, columns, text_column, "text")
    _require_column(p, columns, label_column, "label")
    split_key = split_column if split_column in columns else None
    if split_column is not None and split_key is None and split_column != "split":
        _require_column(p, columns, split_column, "split")
    texts: list[str] = []
    labels: list[Label] = []
    splits: list[str | None] = []
    skipped = 0
    for lineno, row in rows:
        where = f"{p} line {lineno}"
        text = _text(row.get(text_column), f"{where}, column '{text_column}'", skip_empty)
        if text is None:
            skipped += 1
            continue
        label = row.get(label_column)
        where_label = f"{where}, column '{label_column}'"
        labels.append(_parse_label(label, multilabel, label_delimiter, where_label))
        texts.append(text)
        split = row.get(split_key) if split_key is not None else None
        splits.append(str(split).strip().lower() if split not in (None, "") else None)
    if skipped:
        logger.warning("%s: skipped %d rows with empty text (data.skip_empty = true)", p, skipped)
    if not texts:
        raise data_error(str(p), "at least one row", "no rows", "check the file content")
    counts = {"empty_text": skipped, "bad_rows": bad.count if bad is not None else 0}
    return TextDataset(
        texts, labels, splits, source=str(p), skipped={k: n for k, n in counts.items() if n}
    )


def _text(value: Any, where: str, skip_empty: bool) -> str | None:
    """The text of a cell, or None for an empty one skipped on request."""
    if not isinstance(value, str):
        raise data_error(where, "a string", repr(value), "store the text as a string")
    if value.strip():
        return value
    if skip_empty:
        return None
    fix = "remove the row, or set data.skip_empty = true to skip and count it"
    raise data_error(where, "non-empty text", "an empty value", fix)


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
