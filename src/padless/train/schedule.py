"""The training schedule: which batches each epoch runs, and the learning rate of every step.

* :func:`make_sampler`: the batch sampler of ``train.sampler`` over the train split, length
  bucketed (``"bucket"``), bounded in padded steps (``"token_budget"``) or one-batch pools
  (``"random"``); under ``torchrun`` each rank takes its own, equally long share of every epoch.
* :func:`optimizer_steps`: the optimizer steps this process takes over the whole run, which the
  per-step schedules need up front.
* :func:`make_scheduler`: the learning-rate scheduler of ``train.scheduler`` and whether it
  steps per optimizer step (cosine with warm-up, one-cycle) or once per epoch on the monitored
  validation value (ReduceLROnPlateau).

Both are built from the config alone, before any checkpoint is restored into them.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau

from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.config import TrainConfig
from padless.encode.splits import Split
from padless.train.distributed import World

Sampler: TypeAlias = BucketBatchSampler | TokenBudgetSampler
Scheduler: TypeAlias = LRScheduler | ReduceLROnPlateau
Mode: TypeAlias = Literal["min", "max"]


def make_sampler(
    split: Split, t: TrainConfig, pad_to: int | None, world: World | None = None
) -> Sampler:
    """The training batch sampler; under ``torchrun`` each rank takes its own share of every
    epoch's batches, the same number on every rank (see :mod:`padless.batching.samplers`)."""
    world = world or World()
    lengths = split.lengths()
    if t.sampler == "token_budget":
        budget = t.max_tokens or t.batch_size * int(np.median(lengths))
        longest = int(lengths.max())
        if pad_to:
            longest = -(-longest // pad_to) * pad_to
        return TokenBudgetSampler(
            lengths=lengths,
            max_tokens=max(budget, longest),
            shuffle=True,
            seed=t.seed,
            pad_to_multiple_of=pad_to,
            rank=world.rank,
            world_size=world.size,
        )
    multiplier = 1 if t.sampler == "random" else 50  # random = one-batch pools, no grouping
    return BucketBatchSampler(
        lengths=lengths,
        batch_size=t.batch_size,
        shuffle=True,
        seed=t.seed,
        bucket_size_multiplier=multiplier,
        rank=world.rank,
        world_size=world.size,
    )


def optimizer_steps(sampler: Sampler, t: TrainConfig) -> int:
    """This process's optimizer steps over ``t.epochs`` epochs (rank-aware: its own share of
    batches, ``t.accumulate`` batches a step); 0 unless a per-step scheduler needs the count."""
    if t.scheduler not in ("cosine", "onecycle"):
        return 0
    total = 0
    for epoch in range(t.epochs):
        sampler.set_epoch(epoch)
        total += -(-len(sampler) // t.accumulate)
    return total


#: The default floor of a decaying schedule, as a fraction of ``train.lr``: ReduceLROnPlateau
#: with factor 0.5 and patience 1 otherwise halves the rate on every flat epoch, and a long
#: budget ended at ~1e-6 (issue 18), where the weights stop moving while epochs remain.
MIN_LR_FRACTION = 0.01


def lr_floor(t: TrainConfig) -> float:
    """The lowest learning rate plateau and cosine may reach: ``train.min_lr``, or ``lr`` x
    :data:`MIN_LR_FRACTION` when it is None."""
    return t.min_lr if t.min_lr is not None else t.lr * MIN_LR_FRACTION


def make_scheduler(
    optimizer: torch.optim.Optimizer, t: TrainConfig, mode: Mode, total_steps: int
) -> tuple[Scheduler | None, bool]:
    """(scheduler, per_step) for ``t.scheduler``: per_step schedulers step after every
    optimizer step over ``total_steps``; plateau steps once per epoch on the monitored value
    (``mode``: whether it is minimised or maximised); ``"none"`` is ``(None, False)``."""
    if t.scheduler == "plateau":
        plateau = ReduceLROnPlateau(
            optimizer, mode=mode, factor=t.lr_factor, patience=t.lr_patience, min_lr=lr_floor(t)
        )
        return plateau, False
    if t.scheduler == "onecycle":
        return OneCycleLR(optimizer, max_lr=t.lr, total_steps=total_steps), True
    if t.scheduler == "cosine":
        floor, warm = lr_floor(t) / t.lr, t.warmup_steps

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total_steps - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return LambdaLR(optimizer, factor), True
    return None, False
