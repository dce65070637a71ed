"""A baseline beside every run: a standard non-recurrent model fitted on the very same splits.

Users judge a recurrent model by whether it beats what a linear model or a random-kernel
transform gives on their data with no tuning; a run that reports only its own numbers hides
that. :func:`fit_baseline` fits, on the train split of a prepared data set and choosing its one
regularisation setting on the valid split (a seeded share of train when there is none; never
the test split):

* text and token-id inputs: TF-IDF over word unigrams and hashed bigrams of the very token
  ids the model reads + logistic regression (ridge for regression),
  :mod:`padless.evaluation.ngrams`;
* numeric series: MiniRocket features + a ridge classifier, :mod:`padless.evaluation.minirocket`.

It returns the ``"baseline"`` entry of ``metrics.json``: the baseline's name, its chosen
parameters, the fit's seconds and the metrics of every split (:func:`compute_metrics`, the
same as the model's). :func:`compare` puts a model's metrics beside it, split by split.
Per-step tagging has no baseline here (an error says so). scikit-learn (and aeon for series)
are optional dependencies, imported only when a baseline is fitted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from padless.encode.splits import Prepared
from padless.errors import config_error
from padless.evaluation.metrics import compute_metrics
from padless.evaluation.runner import targets_array

__all__ = ["HEADLINE", "Baseline", "compare", "fit_baseline", "format_comparison"]

logger = logging.getLogger(__name__)

#: The metrics a comparison shows, when a split has them.
HEADLINE = ("accuracy", "macro_f1", "roc_auc", "mse", "mae", "r2")


@dataclass(frozen=True)
class Baseline:
    """A fitted baseline: ``model`` (``outputs(inputs)`` in :func:`compute_metrics`'
    convention; the n-gram model also has ``to_module()``) and ``report``, the ``"baseline"``
    entry of ``metrics.json``: ``{"name", "params", "seconds", "<split>": metrics, ...}``."""

    model: Any
    report: dict[str, Any]


def fit_baseline(data: Prepared, *, seed: int = 0, patch_size: int = 1) -> Baseline:
    """Fit the baseline of ``data``'s input kind and score it on every split.

    ``seed``: the held-out draw when there is no valid split (and the solvers' seed);
    ``patch_size``: ``data.patch_size`` of numeric inputs (MiniRocket reads the steps
    unpatched when that scores better on validation)."""
    task, kind = data.labels.task, data.pipeline.kind
    if task == "tagging":
        raise config_error(
            "--baseline",
            "a per-sequence task (binary, multiclass, multilabel or regression)",
            "task tagging (one label per step)",
            "drop --baseline for tagging; compare per-step models with padless evaluate",
        )
    train, valid = data.splits["train"], data.splits.get("valid")
    classes = len(data.labels.classes)
    y = targets_array(train, task)
    vx, vy = (valid.inputs, targets_array(valid, task)) if valid is not None else (None, None)
    started = time.perf_counter()
    model: Any
    if kind == "numeric":
        from padless.evaluation.minirocket import fit_minirocket

        model = fit_minirocket(
            train.inputs, y, vx, vy, task=task, num_classes=classes, seed=seed,
            patch_size=patch_size,
        )  # fmt: skip
    else:
        from padless.evaluation.ngrams import fit_ngram_model

        vocab = data.pipeline.vocab_size
        assert vocab is not None  # text and id pipelines know their vocabulary
        model = fit_ngram_model(
            train.inputs, y, vx, vy, task=task, num_classes=classes, vocab_size=int(vocab),
            seed=seed,
        )  # fmt: skip
    result: dict[str, Any] = {"name": model.name, "params": model.params}
    result["seconds"] = round(time.perf_counter() - started, 2)
    for name, split in data.splits.items():
        out = model.outputs(split.inputs)
        result[name] = compute_metrics(task, targets_array(split, task), out, classes)
    logger.info("baseline %s: %s", model.name, _line(result, data.splits))
    return Baseline(model, result)


def compare(metrics: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{"split", "metric", "model", "baseline", "difference"}`` for each split both
    scored (valid and test first) and each :data:`HEADLINE` metric both have."""
    rows = []
    for split in ("valid", "test", "train"):
        mine, theirs = metrics.get(split), baseline.get(split)
        if not isinstance(mine, dict) or not isinstance(theirs, dict):
            continue
        for key in HEADLINE:
            a, b = mine.get(key), theirs.get(key)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                rows.append(
                    {"split": split, "metric": key, "model": a, "baseline": b, "difference": a - b}
                )
    return rows


def format_comparison(rows: list[dict[str, Any]], name: str) -> str:
    """:func:`compare`'s rows as a plain-text table (the console and the report)."""
    lines = [f"{'split':<6} {'metric':<9} {'model':>8} {name:>14} {'difference':>11}"]
    for r in rows:
        lines.append(
            f"{r['split']:<6} {r['metric']:<9} {r['model']:>8.4f} {r['baseline']:>14.4f} "
            f"{r['difference']:>+11.4f}"
        )
    return "\n".join(lines)


def _line(result: dict[str, Any], splits: Any) -> str:
    parts = []
    for name in splits:
        m = result[name]
        key = next((k for k in HEADLINE if isinstance(m.get(k), (int, float))), None)
        if key is not None:
            parts.append(f"{name} {key} {m[key]:.4f}")
    return ", ".join(parts) + f" ({result['seconds']:.1f} s)"
