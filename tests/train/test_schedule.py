"""The training sampler and learning-rate scheduler built from ``[train]``."""

import math

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.config import TrainConfig
from padless.encode.splits import Split
from padless.train.distributed import World
from padless.train.schedule import (
    MIN_LR_FRACTION,
    make_sampler,
    make_scheduler,
    optimizer_steps,
)


def split_of(lengths):
    return Split(inputs=[[1] * n for n in lengths], targets=[0] * len(lengths), rows=[])


LENGTHS = [3, 9, 4, 17, 5, 5, 12, 2, 8, 30] * 10  # 100 examples


def test_bucket_and_random_samplers_cover_every_example_once():
    for kind in ("bucket", "random"):
        sampler = make_sampler(split_of(LENGTHS), TrainConfig(sampler=kind, batch_size=16), None)
        assert isinstance(sampler, BucketBatchSampler)
        assert sampler.bucket_size_multiplier == (1 if kind == "random" else 50)
        seen = sorted(i for b in sampler for i in b)
        assert seen == list(range(100)) and all(len(b) <= 16 for b in sampler)


def test_token_budget_fits_the_longest_sequence_padded_to_the_multiple():
    t = TrainConfig(sampler="token_budget", max_tokens=20)
    sampler = make_sampler(split_of(LENGTHS), t, pad_to=64)
    assert isinstance(sampler, TokenBudgetSampler)
    assert sampler.max_tokens == 64  # 30 rounded up to 64 beats a budget of 20
    default = make_sampler(split_of(LENGTHS), TrainConfig(sampler="token_budget"), None)
    assert default.max_tokens == 64 * 6  # batch_size x the median length


def test_ranks_split_each_epoch_into_equal_disjoint_shares():
    t = TrainConfig(batch_size=10)  # 10 full batches: no batch repeated to even the shares
    shares = [make_sampler(split_of(LENGTHS), t, None, World(rank=r, size=2)) for r in (0, 1)]
    for s in shares:
        s.set_epoch(1)
    a, b = ([i for batch in s for i in batch] for s in shares)
    assert len(shares[0]) == len(shares[1]) and not set(a) & set(b)
    assert sorted(a + b) == list(range(100))


def test_optimizer_steps_count_accumulated_steps_of_every_epoch():
    sampler = make_sampler(split_of(LENGTHS), TrainConfig(batch_size=16), None)
    per_epoch = len(sampler)  # 7 batches of at most 16
    t = TrainConfig(batch_size=16, epochs=3, accumulate=2, scheduler="cosine")
    assert optimizer_steps(sampler, t) == 3 * math.ceil(per_epoch / 2)
    assert optimizer_steps(sampler, TrainConfig(scheduler="plateau")) == 0  # not needed


def _optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize(
    "kind, cls, per_step",
    [
        ("plateau", ReduceLROnPlateau, False),
        ("onecycle", OneCycleLR, True),
        ("cosine", LambdaLR, True),
        ("none", type(None), False),
    ],
)
def test_scheduler_kinds(kind, cls, per_step):
    scheduler, stepped = make_scheduler(_optimizer(), TrainConfig(scheduler=kind), "max", 10)
    assert isinstance(scheduler, cls) and stepped is per_step


def test_cosine_warms_up_linearly_then_anneals_to_min_lr():
    opt = _optimizer()
    t = TrainConfig(scheduler="cosine", lr=0.1, min_lr=0.01, warmup_steps=4)
    scheduler, _ = make_scheduler(opt, t, "min", total_steps=14)
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        assert scheduler is not None
        scheduler.step()
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)  # the floor at the last step


def test_plateau_follows_the_monitored_direction():
    opt = _optimizer()
    t = TrainConfig(scheduler="plateau", lr=0.1, lr_factor=0.5, lr_patience=0)
    scheduler, _ = make_scheduler(opt, t, "max", 1)
    assert isinstance(scheduler, ReduceLROnPlateau)
    scheduler.step(0.5)
    scheduler.step(0.6)  # higher is better for "max": no reduction
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    scheduler.step(0.4)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


@pytest.mark.parametrize("kind", ["plateau", "cosine"])
def test_the_default_floor_keeps_the_rate_above_nothing(kind):
    """With min_lr unset the rate stops at lr / 100: a long budget of flat epochs used to
    halve the plateau rate to ~1e-6, where the weights no longer move."""
    opt = _optimizer()
    t = TrainConfig(scheduler=kind, lr=0.1, lr_factor=0.5, lr_patience=0)
    scheduler, per_step = make_scheduler(opt, t, "max", total_steps=50)
    assert scheduler is not None
    for _ in range(50):
        opt.step()
        scheduler.step() if per_step else scheduler.step(0.5)  # type: ignore[call-arg]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * MIN_LR_FRACTION)
    explicit = TrainConfig(scheduler=kind, lr=0.1, min_lr=0.0, lr_factor=0.5, lr_patience=0)
    opt = _optimizer()
    scheduler, per_step = make_scheduler(opt, explicit, "max", total_steps=50)
    assert scheduler is not None
    for _ in range(50):
        opt.step()
        scheduler.step() if per_step else scheduler.step(0.5)  # type: ignore[call-arg]
    assert opt.param_groups[0]["lr"] < 1e-6  # min_lr = 0 still lets it go to nothing
