"""Label cells: how one table cell becomes the label of its task, for every table reader.

Text tables (:mod:`padless.data.text_table`) and long tables (:mod:`padless.data.long_table`)
read their label cells with one :class:`LabelRule`, chosen by the task the config names
(:meth:`LabelRule.of`: ``data.task``, ``data.multilabel``, ``data.label_delimiter``):

* ``class`` (binary / multi-class, and ``task = "auto"`` without ``multilabel``): the cell as
  stripped text; an integral number (``1.0`` from Parquet) becomes ``"1"``. A list is an error
  that names both list readings (``data.multilabel``: a set of labels; ``data.task =
  "tagging"``: one tag per step).
* ``set`` (``multilabel = true`` or ``task = "multilabel"``): a JSON list (JSONL / Parquet, or
  a CSV / TSV cell holding ``["a", "b"]``) or text split on ``label_delimiter``. An empty
  cell, ``""`` or ``[]`` is the empty set: the row has no labels. ``null`` / NaN (JSONL,
  Parquet) is a missing label and raises. Labels come back sorted and unique.
* ``number`` (``task = "regression"``): a number, or text such as ``0.676``, ``-2``,
  ``1e-3``; anything else, NaN and inf included, raises.
* ``steps`` (``task = "tagging"``, text tables): one tag per token, as a JSON list (or a CSV /
  TSV cell holding one) or text split on ``label_delimiter``, else on whitespace.
* ``step`` (``task = "tagging"``, long tables): the one tag of a row, i.e. of one time step.

Each cell is decided on its own: nothing here looks at other rows, so a file read in chunks
gets the same labels. Errors name the place the caller passes (file, line, column).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from padless.errors import data_error

__all__ = ["KINDS", "LabelRule"]

KINDS = ("class", "set", "number", "steps", "step")

_LIST_FIX = (
    "for a set of labels per row set data.multilabel = true; for one tag per token (or per "
    'time step) set data.task = "tagging"'
)


@dataclass(frozen=True)
class LabelRule:
    """How label cells are read: ``kind`` (one of :data:`KINDS`, see the module docstring)
    and the ``delimiter`` that splits a text cell into labels or tags (None: JSON lists only
    for ``set``, whitespace for ``steps``)."""

    kind: str = "class"
    delimiter: str | None = None
    missing_fix: str = "fill it in or remove the row"

    @classmethod
    def of(
        cls,
        task: str = "auto",
        multilabel: bool = False,
        delimiter: str | None = None,
        *,
        several: bool = False,
        per_row_steps: bool = False,
        where: str = "data",
    ) -> LabelRule:
        """The rule for ``task``: ``several`` label columns are regression targets;
        ``per_row_steps`` (long tables) reads a tagging label as one tag per row."""
        if several and task not in ("auto", "regression"):
            raise data_error(
                where,
                'data.task "regression" (or "auto") for several label columns',
                f"data.task = {task!r}",
                "use one label column (data.label_column) for this task",
            )
        if multilabel and task not in ("auto", "multilabel"):
            raise data_error(
                where,
                'data.multilabel = true only with data.task "auto" or "multilabel"',
                f"data.task = {task!r}",
                "set data.multilabel = false (it reads a set of labels per row)",
            )
        if several or task == "regression":
            return cls("number", delimiter)
        if task == "tagging":
            return cls("step" if per_row_steps else "steps", delimiter)
        if multilabel or task == "multilabel":
            return cls("set", delimiter)
        return cls("class", delimiter)

    def parse(self, value: Any, where: str) -> str | float | list[str]:
        """The label of one cell (module docstring); raises naming ``where``."""
        if self.kind == "number":
            return _number(value, where, self.missing_fix)
        if self.kind == "set":
            return _label_set(value, self.delimiter, where)
        if self.kind == "steps":
            return _step_tags(value, self.delimiter, where)
        what = "a tag (one per row: one time step)" if self.kind == "step" else "a label"
        return _one(value, where, what, self.missing_fix)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    """A scalar cell as label text: integral floats lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _one(value: Any, where: str, what: str, missing_fix: str) -> str:
    if isinstance(value, list | dict):
        fix = "give one value per row" if what.startswith("a tag") else _LIST_FIX
        raise data_error(where, what, f"{type(value).__name__} {repr(value)[:60]}", fix)
    text = "" if _missing(value) else _text(value)
    if not text:
        raise data_error(where, what, "an empty value", missing_fix)
    return text


def _number(value: Any, where: str, missing_fix: str) -> float:
    got = repr(value)[:60]
    x = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        x = float(value)
    elif isinstance(value, str):
        got = "an empty value" if not value.strip() else got
        try:
            x = float(value.strip())
        except ValueError:
            pass
    if math.isfinite(x):
        return x
    if got == "an empty value" or _missing(value):
        raise data_error(where, "a number (a regression target)", "an empty value", missing_fix)
    raise data_error(
        where,
        "a finite number (a regression target, e.g. 0.676, -2 or 1e-3)",
        got,
        'fix or remove the row; for class labels set data.task = "auto" (or binary / multiclass)',
    )


def _json_list(text: str, where: str) -> list[Any]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        items = exc
    if not isinstance(items, list):
        fix = 'write a JSON list such as ["a", "b"], or labels split on data.label_delimiter'
        raise data_error(where, "a JSON list", repr(text)[:60], fix)
    return items


def _items(values: list[Any], where: str) -> list[str]:
    bad = next((v for v in values if _missing(v) or isinstance(v, list | dict)), "ok")
    if bad != "ok":
        expected = "a list of label names (strings or numbers)"
        raise data_error(where, expected, f"an item {bad!r}", "fix the list")
    return [_text(v) for v in values]


def _label_set(value: Any, delimiter: str | None, where: str) -> list[str]:
    if _missing(value):
        fix = "write [] (or an empty cell in CSV / TSV) for no labels, or fill them in"
        raise data_error(where, "a list of labels (empty: none)", "a missing value (null)", fix)
    if isinstance(value, list):
        items = _items(value, where)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            items = []
        elif text.startswith("["):
            items = _items(_json_list(text, where), where)
        elif delimiter is not None:
            items = [v.strip() for v in text.split(delimiter)]
        else:
            fix = 'write a JSON list such as ["a", "b"], or set data.label_delimiter (e.g. "|")'
            raise data_error(where, "a list of labels", repr(value)[:60], fix)
    elif isinstance(value, dict):
        raise data_error(where, "a list of labels", repr(value)[:60], "write a JSON list")
    else:
        items = [_text(value)]
    return sorted({v for v in items if v})


def _step_tags(value: Any, delimiter: str | None, where: str) -> list[str]:
    expected = "one tag per token (a JSON list, or tags split on whitespace / data.label_delimiter)"
    if isinstance(value, list):
        tags = _items(value, where)
    elif isinstance(value, str) and value.strip().startswith("["):
        tags = _items(_json_list(value.strip(), where), where)
    elif isinstance(value, str):
        parts = value.split(delimiter) if delimiter is not None else value.split()
        tags = [t.strip() for t in parts]
    else:
        got = "a missing value" if _missing(value) else f"{type(value).__name__} {value!r}"[:60]
        raise data_error(where, expected, got, "write the tags of the row's tokens")
    if not tags or "" in tags:
        got = "no tags" if not tags else f"an empty tag at position {tags.index('')}"
        raise data_error(where, expected, got, "write one non-empty tag per token")
    return tags
