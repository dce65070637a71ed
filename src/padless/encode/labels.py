"""Label spaces: the label names in logit order and the task they imply.

Built from the training labels only, saved as ``labels.json`` in the artifact, and used to
encode every split's labels (an unseen label is an error naming the row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from padless.errors import data_error
from padless.models.names import TASKS


@dataclass(frozen=True)
class LabelSpace:
    """The label names in logit order plus the task they imply.

    ``task`` is ``"binary"`` (two classes, one logit), ``"multiclass"`` (C logits, softmax),
    ``"multilabel"`` (C logits, sigmoid each), ``"regression"`` (one output per target name,
    ``classes`` holds the target names) or ``"tagging"`` (one class per time step; labels are
    lists of tags, one per step).
    """

    task: str
    classes: tuple[str, ...]

    @property
    def num_outputs(self) -> int:
        return 1 if self.task == "binary" else len(self.classes)

    @classmethod
    def from_labels(
        cls, labels: list[Any], where: str = "labels", task: str = "auto"
    ) -> LabelSpace:
        """Infer the label space from the training labels. ``task="auto"`` picks multilabel
        for lists of names, regression for numbers, else binary / multiclass by class count;
        tagging must be asked for (its labels are lists too)."""
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
            if any(isinstance(lab, list) for lab in labels):
                task = "multilabel"
            elif all(isinstance(lab, float) for lab in labels):
                task = "regression"
        if task == "regression":
            bad = next((i for i, lab in enumerate(labels) if not _is_number(lab)), None)
            if bad is not None:
                raise data_error(
                    f"{where}, row {bad}",
                    "a numeric regression target",
                    repr(labels[bad])[:60],
                    "fix the value, or set data.task",
                )
            return cls("regression", ("target",))
        if task == "tagging":
            bad = next((i for i, lab in enumerate(labels) if not isinstance(lab, list)), None)
            if bad is not None:
                raise data_error(
                    f"{where}, row {bad}",
                    "a list with one tag per step",
                    repr(labels[bad])[:60],
                    "give per-step tags, or change data.task",
                )
            classes = sorted({str(t) for lab in labels for t in lab}, key=_label_sort_key)
            if not classes:
                raise data_error(where, "at least one tag", "none", "check the tag column")
            return cls("tagging", tuple(classes))
        if task == "multilabel" or any(isinstance(lab, list) for lab in labels):
            if task not in ("auto", "multilabel"):
                raise data_error(
                    where,
                    f"single labels for task {task!r}",
                    "lists of labels",
                    'set data.task = "multilabel"',
                )
            classes = sorted({c for lab in labels for c in lab})
            if len(classes) < 1:
                raise data_error(where, "at least one label name", "none", "check the label column")
            return cls("multilabel", tuple(classes))
        classes = sorted({str(lab) for lab in labels}, key=_label_sort_key)
        if len(classes) < 2:
            raise data_error(
                where,
                "at least two classes in the training labels",
                f"only {classes!r}",
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
            return cls("multiclass", tuple(classes))
        return cls("binary" if len(classes) == 2 else "multiclass", tuple(classes))

    def encode(self, label: Any, where: str = "label") -> Any:
        """Class index (binary / multiclass), multi-hot list (multilabel), float (regression) or
        an int64 array of tag indices (tagging)."""
        if self.task == "regression":
            if not _is_number(label) or not math.isfinite(float(label)):
                raise data_error(where, "a finite number", repr(label)[:60], "fix the target")
            return float(label)
        index = {c: i for i, c in enumerate(self.classes)}
        if self.task == "tagging":
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

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpace:
        return cls(d["task"], tuple(d["classes"]))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _label_sort_key(label: str) -> tuple[int, float | str]:
    """Numeric labels sort numerically ("2" < "10"), others alphabetically."""
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)
