"""Text tables: one example per row, a text column, a label column (or several) and a split.

:class:`TextTableRows` holds everything per row: built once from a file's header and the
column options (it checks the columns there), its :meth:`~TextTableRows.convert` turns a chunk
of rows (a :class:`~padless.data.tables.Columns`) into a
:class:`~padless.data.dataset.TextDataset`, so a file read whole (:func:`read_text_table`,
through :func:`padless.data.tables.read_columns`) and one streamed in chunks
(:func:`padless.data.tables.iter_table`) give the same examples. Nothing in ``convert``
depends on other rows; a chunk of clean rows is converted by whole columns (each distinct
label read once), any other row by row.

Labels are read by the task (:class:`padless.data.label_cells.LabelRule`): a class name, a set
of labels (``multilabel``: a JSON list or text split on ``label_delimiter``; an empty cell or
``[]`` is no labels), a number (``task="regression"``; ``label_columns=[...]`` reads several
targets into ``{column: value}``), or one tag per token (``task="tagging"``). Splits are
``train`` / ``valid`` / ``test`` or an alias (``validation``, ``dev``, ...); an empty split is
None, which training counts as train.

An empty text raises naming the file, line and column, or with ``skip_empty=True`` is counted
in ``dataset.skipped["empty_text"]``; a missing label always raises. A malformed row (an
unclosed quote, a wrong number of fields, a line that is no JSON object: see
:mod:`padless.data.tables`) raises naming the file and line, or with ``skip_bad_rows=True`` is
skipped, counted in ``dataset.skipped["bad_rows"]`` and logged with the first line numbers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from padless.data.dataset import Label, TextDataset
from padless.data.delimited import BadRows
from padless.data.label_cells import LabelRule
from padless.data.numeric import _normalize_split
from padless.data.tables import Columns, infer_format, read_columns
from padless.errors import DataError, data_error

if TYPE_CHECKING:
    from padless.config import DataConfig

__all__ = ["TextTableRows", "read_text_table"]

logger = logging.getLogger(__name__)

Row = dict[str, Any]


def _require_column(path: Path, columns: Sequence[str], name: str, role: str) -> None:
    if name not in columns:
        raise data_error(
            f"{path}",
            f"a {role} column named '{name}'",
            f"columns {list(columns)}",
            f"rename the column or set data.{role}_column to one of {list(columns)}",
        )


class TextTableRows:
    """The rows of one text table, converted chunk by chunk (see the module docstring).

    ``columns`` is the file's header; ``unit`` how errors name a row (``"line"``, or
    ``"row"`` for Parquet). ``label_columns`` (several regression targets) replaces
    ``label_column``. ``skipped`` counts the rows skipped on request over every chunk.
    """

    def __init__(
        self,
        path: str | Path,
        columns: Sequence[str],
        *,
        text_column: str = "text",
        label_column: str = "label",
        split_column: str | None = "split",
        label_columns: Sequence[str] | None = None,
        task: str = "auto",
        multilabel: bool = False,
        label_delimiter: str | None = None,
        skip_empty: bool = False,
        unit: str = "line",
    ):
        self.path = Path(path)
        self.text_column = text_column
        self.label_columns = tuple(label_columns) if label_columns else (label_column,)
        self.several = bool(label_columns)
        self.skip_empty = skip_empty
        self.unit = unit
        self.rule = LabelRule.of(
            task, multilabel, label_delimiter, several=self.several, where=str(self.path)
        )
        _require_column(self.path, columns, text_column, "text")
        for name in self.label_columns:
            _require_column(self.path, columns, name, "label")
        self.split_key = split_column if split_column in columns else None
        if split_column is not None and self.split_key is None and split_column != "split":
            _require_column(self.path, columns, split_column, "split")
        self.skipped: Counter[str] = Counter()
        split = (self.split_key,) if self.split_key is not None else ()
        self._read = (text_column, *self.label_columns, *split)  # the columns a row needs

    @classmethod
    def from_config(
        cls, path: str | Path, columns: Sequence[str], cfg: DataConfig
    ) -> TextTableRows:
        """The rows of ``path`` read as ``cfg`` (a ``[data]`` table) says; Parquet rows are
        named ``row N``, others ``line N``."""
        unit = "row" if infer_format(Path(path), cfg.format) == "parquet" else "line"
        return cls(
            path,
            columns,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            split_column=cfg.split_column,
            label_columns=cfg.label_columns,
            task=cfg.task,
            multilabel=cfg.multilabel,
            label_delimiter=cfg.label_delimiter,
            skip_empty=cfg.skip_empty,
            unit=unit,
        )

    def convert(self, chunk: Columns) -> TextDataset:
        """A :class:`TextDataset` of one chunk of rows; its ``skipped`` counts this chunk's
        empty texts skipped on request (``self.skipped`` all of them). A chunk of clean rows
        (text strings, each distinct label and split cell read once) is converted by whole
        columns; any other goes row by row, which raises at the first bad row."""
        self.skipped["empty_text"] += 0
        fast = self._clean(chunk)
        if fast is not None:
            return fast
        texts: list[str] = []
        labels: list[Label] = []
        splits: list[str | None] = []
        empty = 0
        cells = chunk.cells
        for i, number in enumerate(chunk.numbers):
            where = f"{self.path} {self.unit} {number}"
            row = {name: cells[name][i] for name in self._read}
            text = self._text(row[self.text_column], f"{where}, column '{self.text_column}'")
            if text is None:
                empty += 1
                continue
            texts.append(text)
            labels.append(self._label(row, where))
            split = row[self.split_key] if self.split_key is not None else None
            splits.append(_normalize_split(split, f"{where}, column '{self.split_key}'"))
        self.skipped["empty_text"] += empty
        skipped = {"empty_text": empty} if empty else {}
        return TextDataset(texts, labels, splits, source=str(self.path), skipped=skipped)

    def _clean(self, chunk: Columns) -> TextDataset | None:
        """The chunk converted by whole columns, or None when a row needs a closer look (a
        text that is empty or no string, a label or split that is no string or reads badly)."""
        texts = chunk.cells[self.text_column]
        try:
            if not all(map(str.strip, texts)):
                return None
        except TypeError:  # a text that is no string
            return None
        parse = self.rule.parse
        columns = [
            _each_distinct(chunk.cells[name], lambda v: parse(v, ""), (str,))
            for name in self.label_columns
        ]
        if any(c is None for c in columns):
            return None
        labels: list[Label]
        if self.several:
            rows = zip(*cast(list[list[Any]], columns), strict=True)
            labels = [dict(zip(self.label_columns, v, strict=True)) for v in rows]
        else:
            labels = cast(list[Label], columns[0])
            if self.rule.kind in ("set", "steps"):  # a list per row, not one shared per value
                labels = [list(cast(list[str], v)) for v in labels]
        splits: list[str | None] | None = [None] * len(texts)
        if self.split_key is not None:
            cells = chunk.cells[self.split_key]
            splits = _each_distinct(cells, lambda v: _normalize_split(v, ""), (str, type(None)))
        if splits is None:
            return None
        return TextDataset(list(texts), labels, splits, source=str(self.path))

    def _label(self, row: Row, where: str) -> Label:
        parse = self.rule.parse
        if not self.several:
            name = self.label_columns[0]
            return parse(row.get(name), f"{where}, column '{name}'")
        return {
            c: cast(float, parse(row.get(c), f"{where}, column '{c}'")) for c in self.label_columns
        }

    def _text(self, value: Any, where: str) -> str | None:
        """The text of a cell, or None for an empty one skipped on request."""
        if not isinstance(value, str):
            raise data_error(where, "a string", repr(value), "store the text as a string")
        if value.strip():
            return value
        if self.skip_empty:
            return None
        fix = "remove the row, or set data.skip_empty = true to skip and count it"
        raise data_error(where, "non-empty text", "an empty value", fix)


def _each_distinct(values: list[Any], read: Any, types: tuple[type, ...]) -> list[Any] | None:
    """``read`` of each of ``values``, each distinct value read once; None when a value is not
    of one of ``types`` (values of other types may compare equal, as ``1 == True``) or does not
    read (the caller then goes row by row, naming the row)."""
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # a list or dict cell
        return None
    if any(type(v) not in types for v in distinct):
        return None
    try:
        read_once = {v: read(v) for v in distinct}
    except DataError:
        return None
    return list(map(read_once.__getitem__, values))


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
    task: str = "auto",
    label_columns: Sequence[str] | None = None,
) -> TextDataset:
    """Read a text table (CSV / TSV / JSONL / Parquet): :class:`TextTableRows` over every row.

    A missing ``split_column`` is fine when it is the default name; rows then have split None.
    ``task`` decides how labels are read (module docstring); ``label_columns`` reads several
    regression targets. Empty texts raise (naming the row) unless ``skip_empty=True``, which
    counts them in ``dataset.skipped['empty_text']``. Malformed rows raise unless
    ``skip_bad_rows=True``, which counts them in ``dataset.skipped['bad_rows']`` and logs their
    first line numbers; ``check_multiline=False`` trusts quoted fields that span lines (see
    :mod:`padless.data.delimited`).
    """
    p = Path(path)
    bad = BadRows() if skip_bad_rows else None
    table = read_columns(p, fmt, bad_rows=bad, check_multiline=check_multiline)
    if bad is not None and bad.count:
        logger.warning("%s: %s (data.skip_bad_rows = true)", p, bad)
    reader = TextTableRows(
        p,
        table.names,
        text_column=text_column,
        label_column=label_column,
        split_column=split_column,
        label_columns=label_columns,
        task=task,
        multilabel=multilabel,
        label_delimiter=label_delimiter,
        skip_empty=skip_empty,
        unit="row" if infer_format(p, fmt) == "parquet" else "line",
    )
    ds = reader.convert(table)
    if reader.skipped["empty_text"]:
        n = reader.skipped["empty_text"]
        logger.warning("%s: skipped %d rows with empty text (data.skip_empty = true)", p, n)
    if not ds.texts:
        raise data_error(str(p), "at least one row", "no rows", "check the file content")
    if bad is not None and bad.count:
        ds.skipped["bad_rows"] = bad.count
    return ds
