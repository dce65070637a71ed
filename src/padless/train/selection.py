"""Choosing the epoch count on held-out data when the data have no validation split.

A run whose data have no ``valid`` split (the UEA sets' official train / test, a table whose
split column names only train and test, ``data.valid_fraction = 0``) has nothing to pick its
best epoch or stop early on; kept as is, it ends wherever ``train.epochs`` says, often long
after the held-out optimum or before it. With ``train.holdout`` > 0 (the default) such a run
trains twice, as one would by hand:

1. **selection**, into ``OUT/selection/``: the same config with ``data.valid_fraction =
   holdout``, so a seeded share of train is held out (labels and the input pipeline are
   fitted on the rest) and training stops early on it like any validated run; its best epoch
   E is the count;
2. **refit**, into ``OUT``: all of train for E epochs (no early stopping, the last epoch kept).
   Under ReduceLROnPlateau, whose cuts followed the held-out metric, the refit replays the
   selection's per-epoch learning rates; the per-step schedules (cosine, one-cycle) span the
   E epochs.

The test split is used by neither. ``--resume`` continues whichever phase was interrupted: a
finished selection is read back from ``OUT/selection/metrics.json``. ``metrics.json`` of the
refit records what was chosen under ``"selection"`` (:attr:`Refit.summary`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from padless.config import Config
from padless.encode.splits import Prepared

__all__ = ["SELECTION_DIR", "Refit", "needs_selection", "plan_refit", "refit_from"]

logger = logging.getLogger(__name__)

#: The selection run's directory inside the run's output directory.
SELECTION_DIR = "selection"


@dataclass(frozen=True)
class Refit:
    """What the selection decided for the refit.

    ``cfg``: the refit's config (``train.epochs`` = the chosen count, no early stopping, no
    further hold-out); ``lr``: the per-epoch learning rates to replay (plateau), else None;
    ``mix_weight``: the combined model's weight chosen on the hold-out (None: not combined,
    :mod:`padless.train.combination`); ``summary``: the ``"selection"`` entry of
    ``metrics.json``.
    """

    cfg: Config
    lr: tuple[float, ...] | None
    mix_weight: float | None
    summary: dict[str, Any]


def needs_selection(cfg: Config, data: Prepared) -> bool:
    """Whether a run on ``data`` chooses its epoch count on a hold-out first."""
    return "valid" not in data.splits and cfg.train.holdout > 0


def selection_config(cfg: Config) -> Config:
    """The selection run's config: ``train.holdout`` of train held out as validation."""
    t = cfg.train
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, valid_fraction=t.holdout),
        train=dataclasses.replace(t, holdout=0.0),
    )


def plan_refit(
    cfg: Config,
    out: Path,
    resume: bool,
    run_selection: Callable[[Config, Path, bool], dict[str, Any]],
) -> Refit:
    """Run (or, resuming, read back) the selection for ``cfg`` into ``out/selection`` and
    return the refit it decides. ``run_selection(config, directory, resume)`` trains one run
    and returns its metrics (the training loop's own entry, without an artifact)."""
    directory = out / SELECTION_DIR
    done = directory / "metrics.json"
    if resume and done.is_file():
        metrics = json.loads(done.read_text(encoding="utf-8"))
        logger.info("selection: finished earlier, read back from %s", done)
    else:
        logger.info(
            "no validation split: holding out %g of train to choose the epoch count (%s), "
            "then training on all of it",
            cfg.train.holdout,
            directory,
        )
        ran_before = directory.is_dir() and any(directory.rglob("*.pt"))
        metrics = run_selection(selection_config(cfg), directory, resume and ran_before)
    refit = refit_from(cfg, metrics)
    logger.info(
        "selection: best epoch %d of %d (valid %s), refit on all of train for %d epochs",
        refit.summary["epochs"],
        refit.summary["epochs_run"],
        _headline(refit.summary["valid"]),
        refit.summary["epochs"],
    )
    return refit


def refit_from(cfg: Config, selection: dict[str, Any]) -> Refit:
    """The refit decided by a finished selection run's ``selection`` metrics."""
    epochs = max(1, int(selection["best_epoch"]))
    history = selection["history"]
    replay = None
    if cfg.train.scheduler == "plateau":
        replay = tuple(float(r["lr"]) for r in history[:epochs])
    t = dataclasses.replace(cfg.train, epochs=epochs, early_stopping=0, holdout=0.0)
    summary = {
        "holdout": cfg.train.holdout,
        "epochs": epochs,
        "epochs_run": len(history),
        "stopped_early": bool(selection["stopped_early"]),
        "ceiling": cfg.train.epochs,
        "valid": selection.get("valid", {}),
        "lr": list(replay) if replay is not None else None,
        "combination": selection.get("combination"),
        "history": history,
        "directory": SELECTION_DIR,
    }
    mixed = selection.get("combination") or {}
    weight = float(mixed["weight"]) if mixed.get("combined") else None
    return Refit(dataclasses.replace(cfg, train=t), replay, weight, summary)


def _headline(metrics: dict[str, Any]) -> str:
    for key in ("accuracy", "loss"):
        if isinstance(metrics.get(key), (int, float)):
            return f"{key} {metrics[key]:.4f}"
    return "n/a"
