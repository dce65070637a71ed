"""Label spaces: the label names in logit order and the task they imply.

Built from the training labels only, saved as ``labels.json`` in the artifact, and used to
encode every split's labels (an unseen label is an error naming the row).

``task="auto"`` infers the task from the training labels (:meth:`LabelSpace.from_labels`):

* lists of names: multi-label; several targets by name (``{column: value}``, from
  ``data.label_columns``) or lists of numbers: regression with one output per target;
* numbers: regression when they are floats in memory (e.g. the ``adding`` task), or when every
  label is a number (``0.676``, ``-2``, ``1e-3``, also as text, as tables give them) and at
  least one is not an integer. Integer labels (``0`` / ``1``, ``1`` to ``5``, ``"1.0"``) stay
  class names: set ``data.task = "regression"`` to regress on them;
* anything else: binary with two classes, multi-class with more.

Per-step tags (``"tagging"``) must be asked for, as their labels are lists too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from padless.errors import data_error
from padless.models.names import TASKS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSpace:
    """The label names in logit order plus the task they imply.

    ``task`` is ``"binary"`` (two classes, one logit), ``"multiclass"`` (C logits, softmax),
    ``"multilabel"`` (C logits, sigmoid each), ``"regression"`` (one output per target name,
    ``classes`` holds the target names: ``("target",)`` for one unnamed target, else the label
    columns) or ``"tagging"`` (one class per time step; labels are lists of tags, one per step).
    """

    task: str
    classes: tuple[str, ...]

    @property
    def num_outputs(self) -> int:
        return 1 if self.task == "binary" else len(self.classes)

    @classmethod
    def from_labels(
        cls,
        labels: list[Any],
        where: str = "labels",
        task: str = "auto",
        targets: tuple[str, ...] | list[str] | None = None,
    ) -> LabelSpace:
        """Infer the label space from the training labels (``task="auto"``: module docstring).
        ``targets`` names the regression targets of list labels (dict labels name their own)."""
        if task not in ("auto", *TASKS):
            raise data_error(
                where,
                f"a task among auto, {', '.join(TASKS)}",
                repr(task),
                "set data.task to one of them",
            )
        if not labels:
            raise data_error(where, "at least one training label", "none", "check the data")
        if task == "auto":
            task = _infer(labels, where)
        if task == "regression":
            return cls("regression", _target_names(labels, where, targets))
        if task == "tagging":
            return cls("tagging", _tags(labels, where))
        if task == "multilabel" or any(isinstance(lab, list) for lab in labels):
            return cls("multilabel", _label_sets(labels, where, task))
        return cls(*_classes(labels, where, task))

    def encode(self, label: Any, where: str = "label") -> Any:
        """Class index (binary / multiclass), multi-hot list (multilabel), float or list of
        floats (regression: one target, several) or an int64 array of tag indices (tagging)."""
        if self.task == "regression":
            return self._targets(label, where)
        index = {c: i for i, c in enumerate(self.classes)}
        if self.task == "tagging":
            if not isinstance(label, list | tuple | np.ndarray):
                raise data_error(where, "a list with one tag per step", repr(label)[:60], _TAG_FIX)
            out = np.empty(len(label), dtype=np.int64)
            for t, tag in enumerate(label):
                if str(tag) not in index:
                    raise data_error(
                        f"{where}, step {t}",
                        f"a tag among {list(self.classes)[:20]}",
                        repr(tag),
                        "add examples of this tag to the training split",
                    )
                out[t] = index[str(tag)]
            return out
        if self.task == "multilabel":
            if not isinstance(label, list | tuple):
                fix = "give a list of labels (a JSON list, or data.label_delimiter in CSV)"
                raise data_error(where, "a list of labels", repr(label)[:60], fix)
            vec = [0.0] * len(self.classes)
            for c in label:
                if c not in index:
                    raise data_error(
                        where,
                        f"a label among {list(self.classes)}",
                        repr(c),
                        "add examples of this label to the training split",
                    )
                vec[index[c]] = 1.0
            return vec
        if str(label) not in index:
            raise data_error(
                where,
                f"a label among {list(self.classes)}",
                repr(label),
                "add examples of this label to the training split",
            )
        return index[str(label)]

    def _targets(self, label: Any, where: str) -> float | list[float]:
        """The regression targets of ``label``: a float for one target, else a list of floats
        in ``classes`` order (a ``{column: value}`` label by position: columns may be renamed
        on the command line)."""
        values = list(label.values()) if isinstance(label, dict) else label
        if not isinstance(values, list | tuple | np.ndarray):
            values = [values]
        if len(values) != len(self.classes):
            raise data_error(
                where,
                f"{len(self.classes)} target value(s) ({', '.join(self.classes)})",
                f"{len(values)}: {repr(label)[:60]}",
                "give one label column per target (data.label_columns), in the trained order",
            )
        out = [
            _finite(v, f"{where}, target {name!r}")
            for v, name in zip(values, self.classes, strict=True)
        ]
        return out[0] if len(out) == 1 else out

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpace:
        return cls(d["task"], tuple(d["classes"]))


_TAG_FIX = "give one tag per token or step (a JSON list), or change data.task"


def _infer(labels: list[Any], where: str) -> str:
    """The task ``auto`` picks (module docstring); ``"classes"`` for binary / multiclass."""
    if any(isinstance(lab, dict) for lab in labels):
        return "regression"
    if any(isinstance(lab, list) for lab in labels):
        lists = [lab for lab in labels if isinstance(lab, list)]
        numeric = all(isinstance(x, float | np.floating) for lab in lists for x in lab)
        return "regression" if numeric and any(lists) else "multilabel"
    if all(isinstance(lab, float | np.floating) for lab in labels):
        return "regression"
    numbers = [x for x in map(_as_number, labels) if x is not None]
    if len(numbers) == len(labels) and any(not x.is_integer() for x in numbers):
        logger.info(
            "%s: every label is a number and some are not integers: task regression "
            '(set data.task = "multiclass" to keep them as classes)',
            where,
        )
        return "regression"
    return "classes"


def _target_names(
    labels: list[Any], where: str, targets: tuple[str, ...] | list[str] | None
) -> tuple[str, ...]:
    """The target names of regression labels; every label must be a target of that width."""
    first = labels[0]
    if isinstance(first, dict):
        names = tuple(str(k) for k in first)
    elif isinstance(first, list | tuple | np.ndarray):
        names = tuple(targets) if targets else tuple(f"target_{i}" for i in range(len(first)))
    else:
        names = tuple(targets) if targets else ("target",)
    for i, lab in enumerate(labels):
        if isinstance(lab, dict) and tuple(lab) != names:
            got = f"targets {list(lab)} (row 0: {list(names)})"
            raise data_error(f"{where}, row {i}", f"the targets {list(names)}", got, "fix the row")
        values = list(lab.values()) if isinstance(lab, dict) else lab
        if not isinstance(values, list | tuple | np.ndarray):
            values = [values]
        if len(values) != len(names) or not all(_as_number(v) is not None for v in values):
            raise data_error(
                f"{where}, row {i}",
                f"a numeric regression target ({len(names)} value(s))",
                repr(lab)[:60],
                'fix the value; numbers in a table ("0.676") are targets with '
                'data.task = "regression" (or set another data.task for class labels)',
            )
    return names


def _tags(labels: list[Any], where: str) -> tuple[str, ...]:
    bad = next((i for i, lab in enumerate(labels) if not isinstance(lab, list)), None)
    if bad is not None:
        raise data_error(
            f"{where}, row {bad}", "a list with one tag per step", repr(labels[bad])[:60], _TAG_FIX
        )
    classes = sorted({str(t) for lab in labels for t in lab}, key=_label_sort_key)
    if not classes:
        raise data_error(where, "at least one tag", "none", "check the tag column")
    return tuple(classes)


def _label_sets(labels: list[Any], where: str, task: str) -> tuple[str, ...]:
    if task not in ("auto", "multilabel"):
        raise data_error(
            where,
            f"single labels for task {task!r}",
            "lists of labels",
            'set data.task = "multilabel" (a set of labels per row) or "tagging" (one tag '
            "per step)",
        )
    bad = next((i for i, lab in enumerate(labels) if not isinstance(lab, list)), None)
    if bad is not None:
        fix = "set data.multilabel = true (tables: a JSON list, or data.label_delimiter)"
        raise data_error(f"{where}, row {bad}", "a list of labels", repr(labels[bad])[:60], fix)
    classes = sorted({str(c) for lab in labels for c in lab})
    if not classes:
        raise data_error(where, "at least one label name", "none", "check the label column")
    return tuple(classes)


def _classes(labels: list[Any], where: str, task: str) -> tuple[str, tuple[str, ...]]:
    classes = tuple(sorted({str(lab) for lab in labels}, key=_label_sort_key))
    if len(classes) < 2:
        raise data_error(
            where,
            "at least two classes in the training labels",
            f"only {list(classes)!r}",
            "check the label column (or the split), a classifier needs two classes",
        )
    if task == "binary" and len(classes) != 2:
        raise data_error(
            where,
            "two classes for task 'binary'",
            f"{len(classes)} classes",
            'set data.task = "multiclass" (or "auto")',
        )
    if task == "multiclass":
        return "multiclass", classes
    return ("binary" if len(classes) == 2 else "multiclass"), classes


def _as_number(value: Any) -> float | None:
    """``value`` as a finite float: a number (not a bool) or text that parses as one."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def _finite(value: Any, where: str) -> float:
    x = _as_number(value)
    if x is None:
        raise data_error(where, "a finite number", repr(value)[:60], "fix the target")
    return x


def _label_sort_key(label: str) -> tuple[int, float | str]:
    """Numeric labels sort numerically ("2" < "10"), others (and "nan", "inf") alphabetically
    after them: a NaN key would make the order depend on the set's."""
    x = _as_number(label)
    return (0, x) if x is not None else (1, label)
