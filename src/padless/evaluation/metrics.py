"""Evaluation metrics for every task, in plain numpy, plus a plain-text report.

:func:`compute_metrics` takes the targets and the raw model outputs (logits, never
probabilities) of one split and returns a dict of plain Python values (``float``, ``int``,
``list``, ``None``), ready for ``json.dumps``. Shapes, with N examples and C classes:

* ``binary`` - targets (N,) in {0, 1}; outputs (N,) or (N, 1) logits, positive iff logit > 0.
* ``multiclass`` - targets (N,) in [0, C); outputs (N, C) logits, prediction = argmax.
* ``multilabel`` - targets (N, C) in {0, 1}; outputs (N, C) logits, positive iff logit > 0.
* ``regression`` - targets and outputs (N,) or (N, C) floats, C targets (one may be (N,)
  and the other (N, 1)).
* ``tagging`` - targets (M,) and outputs (M, C) for the M real (non-padding) steps only, like
  ``multiclass`` but ``examples`` counts steps; the caller flattens and masks.

Conventions (chosen to match scikit-learn, which the tests cross-check):

* Precision, recall and F1 of a class with no predictions / no support are 0
  (``zero_division=0``), and ``macro_f1`` averages over *all* C classes, including classes
  absent from both targets and predictions (sklearn ``f1_score(..., labels=range(C),
  average="macro", zero_division=0)``). A class the split lacks therefore pulls the macro
  average down rather than silently disappearing from it.
* ``roc_auc`` (binary only) is the rank statistic with tied scores given their average rank,
  identical to sklearn's ``roc_auc_score``; it is ``None`` when only one class is present.
* Regression: ``mae``, ``rmse`` and ``r2`` are computed per target (``per_target``, lists in
  target order) and averaged over the targets, like sklearn's
  ``multioutput="uniform_average"`` (so ``rmse`` is the mean of the per-target RMSEs, which is
  ``sqrt(mse)`` for one target); ``mse`` is the mean over all outputs. A constant target column
  scores ``r2`` 1.0 if predicted exactly, else 0.0; ``r2`` is ``None`` with fewer than two
  examples.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from padless.errors import data_error
from padless.models.names import TASKS

logger = logging.getLogger(__name__)

_WHERE = "metrics"


def compute_metrics(
    task: str,
    targets: np.ndarray,
    outputs: np.ndarray,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Return the metrics of ``task`` for ``targets`` and model ``outputs`` (see module doc).

    ``num_classes``, when given, is checked against the outputs (C columns; 2 for binary).
    Raises :class:`padless.errors.DataError` on unknown tasks, empty input, mismatched shapes,
    out-of-range targets or non-finite outputs.
    """
    if task not in TASKS:
        raise data_error(
            f"{_WHERE} task",
            f"one of {', '.join(TASKS)}",
            repr(task),
            "pass the task of the label space (LabelSpace.task) or 'regression' / 'tagging'",
        )
    y = np.asarray(targets)
    out = np.asarray(outputs)
    where = f"{_WHERE} ({task})"
    if y.ndim == 0 or y.shape[0] == 0:
        raise data_error(
            where,
            "at least one example",
            "no targets" if y.ndim else "a scalar target",
            "check that the split is not empty (tagging: that the mask keeps some steps)",
        )
    if out.ndim == 0 or out.shape[0] != y.shape[0]:
        raise data_error(
            where,
            f"as many outputs as targets ({y.shape[0]})",
            f"outputs of shape {out.shape}",
            "pass the outputs of the same examples, in the same order",
        )
    out = _as_float(out, where, "outputs")
    if task == "regression":
        return _regression(_as_float(y, where, "targets"), out, num_classes, where)
    if task == "multilabel":
        return _multilabel(y, out, num_classes, where)
    if task == "binary":
        return _binary(y, out, num_classes, where)
    return _multiclass(task, y, out, num_classes, where)


# --------------------------------------------------------------------------- tasks


def _binary(y: np.ndarray, out: np.ndarray, num_classes: int | None, where: str) -> dict:
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if y.ndim != 1 or out.ndim != 1:
        raise data_error(
            where,
            "targets (N,) and one logit per example, outputs (N,) or (N, 1)",
            f"targets {y.shape}, outputs {out.shape}",
            "use task='multiclass' for (N, C) outputs with C > 1",
        )
    if num_classes not in (None, 2):
        raise data_error(where, "num_classes 2 (or None)", str(num_classes), "pass num_classes=2")
    t = _as_class_ids(y, 2, where)
    pred = (out > 0).astype(np.int64)
    result = _classification("binary", t, pred, 2)
    result["roc_auc"] = roc_auc(t, out)
    return result


def _multiclass(
    task: str, y: np.ndarray, out: np.ndarray, num_classes: int | None, where: str
) -> dict:
    if y.ndim != 1 or out.ndim != 2:
        raise data_error(
            where,
            "targets (N,) class ids and outputs (N, C) logits",
            f"targets {y.shape}, outputs {out.shape}",
            "flatten and mask padding steps first" if task == "tagging" else "check the shapes",
        )
    c = _check_num_classes(out.shape[1], num_classes, where)
    t = _as_class_ids(y, c, where)
    return _classification(task, t, out.argmax(axis=1), c)


def _classification(task: str, t: np.ndarray, pred: np.ndarray, c: int) -> dict:
    cm = np.bincount(t * c + pred, minlength=c * c).reshape(c, c)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision, recall, f1 = _prf(tp, predicted - tp, support - tp)
    n = int(t.shape[0])
    return {
        "task": task,
        "examples": n,
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(f1.mean()),
        "confusion_matrix": cm.tolist(),
        "per_class": _per_class(precision, recall, f1, support),
    }


def _multilabel(y: np.ndarray, out: np.ndarray, num_classes: int | None, where: str) -> dict:
    if y.ndim != 2 or out.shape != y.shape:
        raise data_error(
            where,
            "targets and outputs of the same shape (N, C)",
            f"targets {y.shape}, outputs {out.shape}",
            "pass multi-hot targets, one column per label",
        )
    _check_num_classes(y.shape[1], num_classes, where)
    t = _as_class_ids(y, 2, where).astype(bool)
    pred = out > 0
    tp = (t & pred).sum(axis=0)
    fp = (~t & pred).sum(axis=0)
    fn = (t & ~pred).sum(axis=0)
    precision, recall, f1 = _prf(tp, fp, fn)
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "task": "multilabel",
        "examples": int(y.shape[0]),
        "accuracy": float((pred == t).all(axis=1).mean()),
        "label_accuracy": float((pred == t).mean()),
        "macro_f1": float(f1.mean()),
        "micro_f1": float(2 * tp.sum() / micro_den) if micro_den else 0.0,
        "per_class": _per_class(precision, recall, f1, tp + fn),
    }


def _regression(y: np.ndarray, out: np.ndarray, num_classes: int | None, where: str) -> dict:
    if y.ndim == 1 and out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    elif out.ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != out.shape or y.ndim > 2:
        raise data_error(
            where,
            "targets and outputs of the same shape, (N,) or (N, C)",
            f"targets {y.shape}, outputs {out.shape}",
            "pass one prediction per target value",
        )
    y2 = y.reshape(y.shape[0], -1)
    o2 = out.reshape(out.shape[0], -1)
    _check_num_classes(y2.shape[1], num_classes, where)
    err = o2 - y2
    mse_col = np.mean(err**2, axis=0)
    rmse_col = np.sqrt(mse_col)
    mae_col = np.mean(np.abs(err), axis=0)
    r2_col: list[float | None] = [None] * y2.shape[1]
    r2: float | None = None
    if y2.shape[0] >= 2:
        ss_res = (err**2).sum(axis=0)
        ss_tot = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
        safe = np.where(ss_tot > 0, ss_tot, 1.0)
        per_col = np.where(ss_tot > 0, 1.0 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
        r2, r2_col = float(per_col.mean()), [float(v) for v in per_col]
    return {
        "task": "regression",
        "examples": int(y2.shape[0]),
        "mse": float(mse_col.mean()),
        "rmse": float(rmse_col.mean()),
        "mae": float(mae_col.mean()),
        "r2": r2,
        "per_target": {
            "mae": [float(v) for v in mae_col],
            "rmse": [float(v) for v in rmse_col],
            "r2": r2_col,
        },
    }


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve for 0/1 ``targets`` (N,) and ``scores`` (N,); ``None`` if only
    one class is present. Tied scores count half (average ranks), as in sklearn."""
    t = np.asarray(targets).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(t.sum())
    n_neg = int(t.shape[0]) - n_pos
    if n_pos == 0 or n_neg == 0:
        logger.debug("roc_auc undefined: only one class present in %d targets", t.shape[0])
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    ranks = avg_rank[inverse.reshape(-1)]
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# --------------------------------------------------------------------------- helpers


def _prf(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 per class; 0 where undefined (sklearn ``zero_division=0``)."""

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)

    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)


def _per_class(
    precision: np.ndarray, recall: np.ndarray, f1: np.ndarray, support: np.ndarray
) -> dict[str, list]:
    return {
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }


def _check_num_classes(columns: int, num_classes: int | None, where: str) -> int:
    if columns < 1 or (num_classes is not None and num_classes != columns):
        raise data_error(
            where,
            f"{num_classes if num_classes is not None else 'at least 1'} output columns",
            f"{columns}",
            "pass outputs with one column per class (or the matching num_classes)",
        )
    return columns


def _as_float(a: np.ndarray, where: str, name: str) -> np.ndarray:
    try:
        f = a.astype(np.float64)
    except (TypeError, ValueError):
        raise data_error(where, f"numeric {name}", f"dtype {a.dtype}", "pass numbers") from None
    if not np.isfinite(f).all():
        raise data_error(
            where,
            f"finite {name}",
            f"{int((~np.isfinite(f)).sum())} NaN/inf values",
            "check for a diverged model (NaN loss) or missing values in the data",
        )
    return f


def _as_class_ids(y: np.ndarray, c: int, where: str) -> np.ndarray:
    """Integer class ids in [0, c) (floats like 1.0 are accepted); anything else raises."""
    f = _as_float(y, where, "targets")
    ids = f.astype(np.int64)
    bad = (ids != f) | (ids < 0) | (ids >= c)
    if bad.any():
        first = float(f.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]])
        raise data_error(
            where,
            f"integer targets in [0, {c})" if c > 2 else "targets 0 or 1",
            f"{int(bad.sum())} other values (first: {first!r})",
            "encode labels with LabelSpace.encode, or pass the matching num_classes",
        )
    return ids


# --------------------------------------------------------------------------- report


def format_metrics(metrics: dict[str, Any], label_names: list[str] | None = None) -> str:
    """Render ``metrics`` (from :func:`compute_metrics`) as a plain-text report: headline
    numbers, then per-class precision / recall / F1 / support, then the confusion matrix with
    (truncated) ``label_names`` as row and column headers (class ids when ``None``)."""
    lines: list[str] = []
    scalars = [(k, v) for k, v in metrics.items() if _is_scalar(v) and k != "task"]
    if scalars:
        width = max(len(k) for k, _ in scalars)
        title = f"{metrics['task']} metrics" if "task" in metrics else "metrics"
        lines.append(title)
        lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in scalars]
    per_class = metrics.get("per_class")
    per_target = metrics.get("per_target")
    cm = metrics.get("confusion_matrix")
    n = len(per_class["f1"]) if per_class else len(cm) if cm else 0
    n = len(per_target["mae"]) if per_target else n
    if label_names is not None and n and len(label_names) != n:
        raise data_error(
            "format_metrics label_names",
            f"{n} names (one per class)",
            f"{len(label_names)}",
            "pass LabelSpace.classes, in logit order",
        )
    names = [str(x) for x in label_names] if label_names is not None else [str(i) for i in range(n)]
    if per_target:
        lines += _per_target_lines(per_target, names)
    if per_class:
        rows = [_truncate(s, 24) for s in names]
        w = max(5, *(len(r) for r in rows))
        lines += ["", f"  {'class':<{w}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  support"]
        for i, r in enumerate(rows):
            p, rc, f = (per_class[k][i] for k in ("precision", "recall", "f1"))
            support = per_class["support"][i]
            lines.append(f"  {r:<{w}}  {p:>9.4f}  {rc:>9.4f}  {f:>9.4f}  {support:>7}")
    if cm:
        rows = [_truncate(s, 16) for s in names]
        cols = [_truncate(s, 8) for s in names]
        corner = "true \\ pred"
        w_row = max(len(corner), *(len(r) for r in rows))
        w_col = max(max(len(c) for c in cols), max(len(str(v)) for row in cm for v in row))
        lines += ["", f"  {corner:<{w_row}}  " + "  ".join(f"{c:>{w_col}}" for c in cols)]
        for r, row in zip(rows, cm, strict=True):
            lines.append(f"  {r:<{w_row}}  " + "  ".join(f"{v:>{w_col}}" for v in row))
    return "\n".join(lines)


def _per_target_lines(per_target: dict[str, list], names: list[str]) -> list[str]:
    """The per-target table of a regression report: mae, rmse and r2 of each target."""
    rows = [_truncate(s, 24) for s in names]
    w = max(6, *(len(r) for r in rows))
    lines = ["", f"  {'target':<{w}}  {'mae':>9}  {'rmse':>9}  {'r2':>9}"]
    for i, r in enumerate(rows):
        mae, rmse, r2 = (per_target[k][i] for k in ("mae", "rmse", "r2"))
        lines.append(f"  {r:<{w}}  {mae:>9.4f}  {rmse:>9.4f}  {_fmt(r2):>9}")
    return lines


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, int | float | str)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _truncate(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"
