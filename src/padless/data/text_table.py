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

import logging
import math
from pathlib import Path
from typing import Any

from padless.data.dataset import Label, TextDataset
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
