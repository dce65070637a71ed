"""Resuming: what a run's checkpoints hold, and where a run starts from them.

A run starts in one of three ways (:func:`start`):

* fresh (into a directory that holds no earlier run, or with ``--overwrite``: see
  :mod:`padless.train.outdir`): leftover checkpoints are removed and, with ``pretrain.epochs``,
  the model is pre-trained as a language model (:mod:`padless.train.pretrain`) and saved to
  ``checkpoints/pretrain/``;
* ``--resume`` after pre-training, killed before the first epoch ended: the pre-trained
  weights, pre-training records and RNG state are restored, training starts at epoch 0;
* ``--resume`` from the newest epoch checkpoint: model, optimizer, scheduler, scaler, the
  epoch book and every rank's RNG state are restored, training continues after that epoch.

:func:`epoch_state` is the other half: the dict each epoch checkpoint holds (``epoch``,
``model``, ``optimizer``, ``scheduler``, ``scaler``, ``book``, ``rng``, ``rng_ranks``,
``config``). The keys stay as they are so checkpoints of earlier versions still resume. Only
:data:`RESUMABLE_CHANGES` may differ from the checkpointed config (:func:`check_resume`).
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from padless.config import Config
from padless.errors import config_error
from padless.train.checkpoint import CheckpointManager, capture_rng, restore_rng
from padless.train.pretrain import pretrain_language_model
from padless.train.run import Run

logger = logging.getLogger(__name__)

RESUMABLE_CHANGES = {"train.epochs", "train.num_threads", "train.tensorboard"}


def start(run: Run, resume: bool) -> int:
    """Prepare ``run`` for its first epoch (see the module docstring); returns that epoch's
    0-based index."""
    pre = CheckpointManager(run.out / "checkpoints" / "pretrain", keep=1)
    if resume and run.checkpoints.latest() is None and pre.latest() is not None:
        _after_pretraining(run, pre)
        return 0
    if resume:
        return _from_checkpoint(run)
    _fresh(run, pre)
    return 0


def epoch_state(run: Run, epoch: int, rngs: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint of epoch ``epoch`` (1-based): ``rngs`` holds every rank's RNG state."""
    scheduler, scaler = run.scheduler, run.scaler
    return {
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "book": run.book.state(),
        "rng": rngs[0],
        "rng_ranks": rngs if run.world.distributed else None,
        "config": run.cfg.to_dict(),
    }


def check_resume(saved: dict[str, Any], cfg: Config) -> None:
    """Raise a ConfigError listing the settings of ``cfg`` that differ from the checkpointed
    config ``saved`` (beyond :data:`RESUMABLE_CHANGES`)."""
    now = cfg.to_dict()
    diffs = [
        f"{stage}.{k}: {saved[stage].get(k)!r} -> {v!r}"
        for stage, table in now.items()
        for k, v in table.items()
        if saved.get(stage, {}).get(k) != v and f"{stage}.{k}" not in RESUMABLE_CHANGES
    ]
    if diffs:
        raise config_error(
            "--resume",
            "the config of the checkpointed run (only train.epochs may change)",
            "; ".join(diffs[:5]),
            "resume with the original config, or start a new run in another --out "
            "(or replace this one with --overwrite)",
        )


def _from_checkpoint(run: Run) -> int:
    """Restore the newest readable epoch checkpoint into ``run``; returns the epoch it ended.
    The log names the file actually loaded (corrupt newer ones are skipped with a warning)."""
    if run.checkpoints.latest() is None:
        raise config_error(
            "--resume",
            f"a checkpoint in {run.out / 'checkpoints'}",
            "none",
            "run without --resume to start training",
        )
    path, state = run.checkpoints.newest()
    check_resume(state["config"], run.cfg)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.book.load(state["book"])
    epoch = int(state["epoch"])
    world, ranks = run.world, state.get("rng_ranks")
    restore_rng(ranks[world.rank] if ranks and len(ranks) == world.size else state["rng"])
    logger.info("resuming after epoch %d from %s", epoch, path)
    return epoch


def _after_pretraining(run: Run, pre: CheckpointManager) -> None:
    """Killed after pre-training, before the first epoch ended: restore the pre-trained run."""
    path, state = pre.newest()
    check_resume(state["config"], run.cfg)
    run.model.load_state_dict(state["model"])
    run.book.pretrain = state["pretrain"]
    restore_rng(state["rng"])
    logger.info("resuming after language-model pre-training from %s", path)


def _fresh(run: Run, pre: CheckpointManager) -> None:
    """Remove old checkpoints; pre-train (and checkpoint that) when ``pretrain.epochs``."""
    cfg, world = run.cfg, run.world
    if world.main:
        shutil.rmtree(run.out / "checkpoints", ignore_errors=True)
    world.barrier()
    if not cfg.pretrain.epochs:
        return
    run.book.pretrain = pretrain_language_model(
        run.model,
        run.train_split,
        cfg.pretrain,
        batch_size=cfg.train.batch_size,
        grad_clip=cfg.train.grad_clip,
        seed=cfg.train.seed,
        device=run.device,
        quiet=run.quiet,
    )
    state = {
        "model": run.model.state_dict(),
        "pretrain": run.book.pretrain,
        "rng": capture_rng(),
        "config": cfg.to_dict(),
    }
    pre.save(cfg.pretrain.epochs, state)
