"""Training plots as PNG files: learning curves and the confusion matrix.

:func:`write_report` is what training writes into ``RUN_DIR/report/``: :func:`plot_history`
of the per-epoch records and :func:`plot_confusion` of the last split's confusion matrix
(test, else valid, else train), when the task has one.

Uses matplotlib's object-oriented API (:class:`~matplotlib.figure.Figure` drawn by the Agg
canvas), never :mod:`matplotlib.pyplot`, so no global backend or figure state is touched and
it works headless, in threads and inside notebooks alike.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from padless.errors import data_error

logger = logging.getLogger(__name__)

MAX_ANNOTATED_CLASSES = 30
_SPLIT_ORDER = {"train": 0, "valid": 1, "test": 2}


def write_report(directory: str | Path, metrics: dict[str, Any], classes: Sequence[str]) -> None:
    """The report of a finished run into ``directory``: learning curves of
    ``metrics["history"]`` (and of the hold-out selection's, in ``selection/``), the confusion
    matrix of the test split (else valid, else train) when it has one, and ``baseline.txt``,
    the model beside the baseline, when the run fitted one; ``classes`` are the label names in
    logit order."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    plot_history(metrics["history"], out)
    if metrics.get("selection"):  # the held-out run that chose the epoch count
        plot_history(metrics["selection"]["history"], out / "selection")
    if metrics.get("baseline"):
        from padless.evaluation.baseline import compare, format_comparison

        base = metrics["baseline"]
        table = format_comparison(compare(metrics, base), base["name"])
        (out / "baseline.txt").write_text(table + "\n", encoding="utf-8")
    final: dict[str, Any] = next(
        (metrics[s] for s in ("test", "valid", "train") if s in metrics), {}
    )
    if final.get("confusion_matrix") is not None:
        plot_confusion(final["confusion_matrix"], list(classes), out / "confusion_matrix.png")


def plot_history(history: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write learning curves of per-epoch ``history`` records into ``out_dir``.

    Each record looks like ``{"epoch": 1, "train_loss": ..., "valid_loss": ...,
    "train_accuracy": ..., "valid_accuracy": ..., "lr": ...}``; any key may be missing (a
    missing ``epoch`` is the record's 1-based position) and ``None`` / NaN values are skipped.
    Writes ``loss.png`` (every ``*loss`` key), ``accuracy.png`` (every ``*accuracy`` key) and
    ``lr.png`` (``lr``), each only when it has something to draw. Returns the written paths.
    """
    for i, rec in enumerate(history):
        if not isinstance(rec, dict):
            raise data_error(
                f"history entry {i}",
                "a dict of per-epoch values",
                type(rec).__name__,
                "pass metrics['history'] as written by padless.train",
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    groups = [
        ("loss.png", "loss", lambda k: k.endswith("loss")),
        ("accuracy.png", "accuracy", lambda k: k.endswith("accuracy")),
        ("lr.png", "learning rate", lambda k: k == "lr"),
    ]
    for filename, ylabel, wanted in groups:
        keys = sorted(
            {k for rec in history for k in rec if isinstance(k, str) and wanted(k)},
            key=lambda k: (_SPLIT_ORDER.get(k.split("_")[0], 9), k),
        )
        series = {k: s for k in keys if (s := _series(history, k))[0]}
        if not series:
            continue
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for key, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        values = [v for _, ys in series.values() for v in ys]
        if ylabel == "learning rate" and min(values) > 0 and max(values) / min(values) > 10:
            ax.set_yscale("log")
        if len(series) > 1 or ylabel != "learning rate":
            ax.legend()
        path = out / filename
        fig.savefig(path, dpi=100)
        written.append(path)
    if not written:
        logger.warning("plot_history: nothing to plot (no *loss, *accuracy or lr values)")
    else:
        logger.info("wrote %s", ", ".join(str(p) for p in written))
    return written


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for i, rec in enumerate(history):
        v = rec.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            epoch = rec.get("epoch", i + 1)
            xs.append(float(epoch) if isinstance(epoch, int | float) else float(i + 1))
            ys.append(float(v))
    return xs, ys


def plot_confusion(
    matrix: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str], path: str | Path
) -> Path:
    """Draw the confusion ``matrix`` (C, C) (rows = true class, columns = predicted) as a
    heatmap into the PNG ``path``: colour is the row-normalised fraction, cells are annotated
    with counts up to :data:`MAX_ANNOTATED_CLASSES` classes. Returns ``path``."""
    fig = _confusion_figure(matrix, labels)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=100)
    logger.info("wrote %s", p)
    return p


def _confusion_figure(
    matrix: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str]
) -> Figure:
    cm = np.asarray(matrix)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise data_error(
            "confusion matrix",
            "a non-empty square matrix (C, C)",
            f"shape {cm.shape}",
            "pass metrics['confusion_matrix'] from padless.evaluation.metrics.compute_metrics",
        )
    if not np.issubdtype(cm.dtype, np.number) or (cm < 0).any():
        got = f"dtype {cm.dtype}" if not np.issubdtype(cm.dtype, np.number) else "negative values"
        raise data_error(
            "confusion matrix", "non-negative counts", got, "pass counts, not normalised values"
        )
    c = cm.shape[0]
    if len(labels) != c:
        raise data_error(
            "confusion matrix labels",
            f"{c} label names (one per row)",
            f"{len(labels)}",
            "pass LabelSpace.classes, in logit order",
        )
    rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    names = [_truncate(str(s), 20) for s in labels]
    side = min(max(4.0, 0.45 * c + 2.5), 20.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    few = c <= 10
    ax.set_xticks(range(c), names, rotation=45 if few else 90, ha="right" if few else "center")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= MAX_ANNOTATED_CLASSES:
        size = 10 if c <= 10 else 7 if c <= 20 else 5
        for i in range(c):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    return fig


def _truncate(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"
