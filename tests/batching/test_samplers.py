"""padless.batching.samplers: BucketBatchSampler and TokenBudgetSampler (every index once,
determinism per seed and epoch, rank sharding, the token budget, argument validation)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.batching.budget import cut_to_budget
from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.errors import ConfigError, DataError
from tests.variants import dataset_lengths, skewed_lengths

FAST = settings(max_examples=40, deadline=None)


def all_indices(batches):
    return sorted(i for b in batches for i in b)


# ---------------------------------------------------------------------------------------------
# Samplers: shared guarantees
# ---------------------------------------------------------------------------------------------


def make_sampler(kind, lengths, **kw):
    batch_size, max_tokens = kw.pop("batch_size", 4), kw.pop("max_tokens", 400)
    if kind == "bucket":
        return BucketBatchSampler(lengths, batch_size=batch_size, **kw)
    return TokenBudgetSampler(lengths, max_tokens=max_tokens, **kw)


@FAST
@given(
    dataset_lengths(),
    st.sampled_from(["bucket", "token"]),
    st.booleans(),
    st.integers(1, 9),
    st.integers(1, 3),
    st.integers(0, 3),
)
def test_every_index_exactly_once(lengths, kind, shuffle, size, mult, epoch):
    kw = {"batch_size": size} if kind == "bucket" else {"max_tokens": 300 + 37 * size}
    sampler = make_sampler(kind, lengths, shuffle=shuffle, bucket_size_multiplier=mult, **kw)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert all_indices(batches) == list(range(len(lengths)))
    assert len(sampler) == len(batches)
    assert all(len(b) >= 1 for b in batches)
    assert all(isinstance(i, int) for b in batches for i in b)
    if kind == "bucket":
        assert all(len(b) <= size for b in batches)
        assert sum(len(b) < size for b in batches) <= 1  # only the last pool has a remainder


@FAST
@given(dataset_lengths(), st.booleans(), st.integers(1, 9), st.integers(1, 3))
def test_bucket_drop_last(lengths, shuffle, batch_size, mult):
    sampler = BucketBatchSampler(
        lengths, batch_size, shuffle=shuffle, drop_last=True, bucket_size_multiplier=mult
    )
    batches = list(sampler)
    assert all(len(b) == batch_size for b in batches)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == len(lengths) - len(lengths) % batch_size
    assert len(sampler) == len(lengths) // batch_size


def test_bucket_drop_last_drops_longest_of_sorted_order():
    lengths = [5, 1, 4, 2, 3]
    batches = list(BucketBatchSampler(lengths, 2, shuffle=False, drop_last=True))
    assert batches == [[1, 3], [4, 2]]  # lengths (1, 2), (3, 4); index 0 (length 5) dropped


@FAST
@given(dataset_lengths(), st.booleans(), st.integers(1, 5))
def test_token_budget_drop_last_drops_only_underfull_pool_tails(lengths, shuffle, mult):
    kw = dict(max_tokens=350, shuffle=shuffle, bucket_size_multiplier=mult, seed=3)
    full = list(TokenBudgetSampler(lengths, **kw))
    kept = list(TokenBudgetSampler(lengths, drop_last=True, **kw))
    assert {tuple(b) for b in kept} <= {tuple(b) for b in full}
    flat = [i for b in kept for i in b]
    assert len(flat) == len(set(flat))
    for b in set(map(tuple, full)) - set(map(tuple, kept)):  # dropped ones had room left
        assert (len(b) + 1) * max(lengths[i] for i in b) <= 350


@FAST
@given(dataset_lengths(), st.sampled_from(["bucket", "token"]), st.booleans(), st.integers(0, 5))
def test_deterministic_for_same_seed_and_epoch(lengths, kind, drop_last, epoch):
    a = make_sampler(kind, lengths, seed=7, drop_last=drop_last)
    b = make_sampler(kind, lengths, seed=7, drop_last=drop_last)
    a.set_epoch(epoch)
    b.set_epoch(epoch)
    assert list(a) == list(b) == list(a)  # re-iterating repeats the epoch


@pytest.mark.parametrize("kind", ["bucket", "token"])
def test_set_epoch_and_seed_change_order(kind):
    lengths = skewed_lengths(1000)
    sampler = make_sampler(kind, lengths, seed=0, batch_size=16, max_tokens=4000)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch0 != epoch1
    assert {frozenset(b) for b in epoch0} != {frozenset(b) for b in epoch1}  # new batches
    assert all_indices(epoch0) == all_indices(epoch1) == list(range(1000))
    other_seed = make_sampler(kind, lengths, seed=1, batch_size=16, max_tokens=4000)
    assert list(other_seed) != epoch0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=60, max_size=150))
def test_set_epoch_changes_order_property(lengths):
    sampler = BucketBatchSampler(lengths, batch_size=4, seed=0)
    orders = set()
    for epoch in range(4):
        sampler.set_epoch(epoch)
        orders.add(tuple(map(tuple, sampler)))
    assert len(orders) > 1


def test_shuffle_false_is_globally_sorted():
    lengths = skewed_lengths(500)
    for sampler in (
        BucketBatchSampler(lengths, 8, shuffle=False),
        TokenBudgetSampler(lengths, 3000, shuffle=False),
    ):
        flat = [i for b in sampler for i in b]
        assert np.all(np.diff(lengths[flat]) >= 0)
        sampler.set_epoch(3)
        assert [i for b in sampler for i in b] == flat  # epoch-independent


# ---------------------------------------------------------------------------------------------
# The vectorised plan equals the pool-by-pool one it replaced
# ---------------------------------------------------------------------------------------------


def reference_plan(sampler, epoch):
    """The global plan as the samplers computed it before the plan was vectorised: a Python
    loop over pools, each sorted and cut on its own, every batch a list."""
    n = sampler.lengths.size
    rng = np.random.default_rng([sampler.seed, epoch])
    if sampler.shuffle:
        perm, size = rng.permutation(n), sampler._pool_size()
        pools = [perm[i : i + size] for i in range(0, n, size)]
    else:
        pools = [np.arange(n)]
    batches = []
    for pool in pools:
        sorted_idx = pool[np.argsort(sampler.lengths[pool], kind="stable")]
        if isinstance(sampler, BucketBatchSampler):
            bs = sampler.batch_size
            cut = [sorted_idx[i : i + bs] for i in range(0, sorted_idx.size, bs)]
            incomplete = cut[-1].size < bs
        else:
            cost = sampler._cost[sorted_idx]
            cuts = cut_to_budget(cost, sampler.max_tokens, max_count=sampler.max_batch_size)
            cut = [sorted_idx[c] for c in cuts]
            limit = sampler.max_batch_size or sampler.max_tokens
            room = (cut[-1].size + 1) * cost[-1] <= sampler.max_tokens
            incomplete = cut[-1].size < limit and room
        batches.extend(cut[:-1] if sampler.drop_last and incomplete else cut)
    if sampler.shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return [b.tolist() for b in batches]


@FAST
@given(
    dataset_lengths(max_size=400),
    st.sampled_from(["bucket", "token"]),
    st.booleans(),
    st.booleans(),
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(0, 3),
    st.integers(0, 2**31),
)
def test_plan_equals_the_pool_by_pool_reference(
    lengths, kind, shuffle, drop_last, size, mult, epoch, seed
):
    kw = {"batch_size": size} if kind == "bucket" else {"max_tokens": 300 + 37 * size}
    kw |= dict(shuffle=shuffle, drop_last=drop_last, bucket_size_multiplier=mult, seed=seed)
    sampler = make_sampler(kind, lengths, **kw)
    sampler.set_epoch(epoch)
    expected = reference_plan(sampler, epoch)
    assert [b.tolist() for b in sampler.global_batches()] == expected
    assert len(sampler) == len(expected)  # the bucket count is arithmetic: before any plan
    assert list(sampler) == expected
    assert [b.tolist() for b in sampler.batches()] == expected


@pytest.mark.parametrize("kind", ["bucket", "token"])
def test_plan_equals_the_reference_at_scale_and_for_long_sequences(kind):
    rng = np.random.default_rng(5)
    lengths = np.clip(rng.lognormal(3, 0.7, size=200_000).astype(np.int64), 0, 400)
    long = skewed_lengths(3000) * 40  # up to 80,000 steps: sorted as int64, not uint16
    for lens, kw in [(lengths, {}), (long, {"max_tokens": 200_000})]:
        sampler = make_sampler(kind, lens, batch_size=64, seed=3, **kw)
        sampler.set_epoch(2)
        assert [b.tolist() for b in sampler.global_batches()] == reference_plan(sampler, 2)


def test_batches_are_read_only_views_and_a_copy_of_the_list():
    sampler = BucketBatchSampler(skewed_lengths(500), 8, seed=0)
    batches = sampler.batches()
    assert all(b.dtype == np.int64 and not b.flags.writeable for b in batches)
    batches.reverse()  # the loop may reorder its list (SortaGrad) without touching the plan
    assert [b.tolist() for b in sampler.batches()] == list(sampler)
    with pytest.raises(ValueError):
        batches[0][0] = 0


@pytest.mark.parametrize("kind", ["bucket", "token"])
def test_a_plan_made_ahead_is_the_plan(kind):
    lengths = skewed_lengths(3000)
    inline = make_sampler(kind, lengths, seed=4, batch_size=16, max_tokens=4000)
    ahead = make_sampler(kind, lengths, seed=4, batch_size=16, max_tokens=4000)
    ahead.plan_ahead(1)
    assert list(ahead) == list(inline)  # epoch 0: planned inline, the epoch-1 plan waits
    for s in (inline, ahead):
        s.set_epoch(1)
    assert ahead._ahead is not None
    assert len(ahead) == len(inline) and list(ahead) == list(inline)
    assert ahead._ahead is None  # taken by the epoch it planned


def test_an_error_while_planning_ahead_is_raised_where_the_plan_is_used(monkeypatch):
    sampler = BucketBatchSampler(skewed_lengths(100), 8, seed=0)

    def broken(epoch=None):
        raise RuntimeError("plan failed")

    monkeypatch.setattr(sampler, "global_batches", broken)
    sampler.plan_ahead(0)
    with pytest.raises(RuntimeError, match="plan failed"):
        sampler.batches()
    with pytest.raises(ConfigError, match="epoch"):
        sampler.plan_ahead(-1)


# ---------------------------------------------------------------------------------------------
# Distributed sharding
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    dataset_lengths(max_size=120),
    st.sampled_from(["bucket", "token"]),
    st.booleans(),
    st.booleans(),
    st.integers(2, 5),
    st.integers(0, 2),
)
def test_rank_shards(lengths, kind, shuffle, drop_last, world, epoch):
    kw = dict(seed=11, shuffle=shuffle, drop_last=drop_last)
    reference = make_sampler(kind, lengths, **kw)  # world_size=1: the global plan
    reference.set_epoch(epoch)
    plan = list(reference)
    total = len(plan)
    shards = []
    for rank in range(world):
        sampler = make_sampler(kind, lengths, rank=rank, world_size=world, **kw)
        sampler.set_epoch(epoch)
        count = len(sampler)  # before the plan: the bucket sampler counts arithmetically
        shards.append(list(sampler))
        assert len(sampler) == len(shards[-1]) == count
    # equal number of batches on every rank
    assert len({len(s) for s in shards}) == 1
    if drop_last:
        expected = plan[: total - total % world]
    else:
        pad = (-total) % world
        expected = plan + [plan[i % total] for i in range(pad)]
    # the documented policy, batch by batch
    for rank in range(world):
        assert shards[rank] == expected[rank::world]
    counts = Counter(i for s in shards for b in s for i in b)
    if drop_last:
        assert all(c == 1 for c in counts.values())  # disjoint, nothing repeated
    else:
        assert set(counts) == set(range(len(lengths)))  # every index at least once
        padding = Counter(i for b in expected[total:] for i in b)
        assert counts == Counter({i: 1 + padding[i] for i in range(len(lengths))})


def test_rank_shards_disjoint_when_divisible():
    lengths = skewed_lengths(64 * 8)
    shards = [
        [i for b in BucketBatchSampler(lengths, 64, rank=r, world_size=4) for i in b]
        for r in range(4)
    ]
    assert all(len(s) == 128 for s in shards)
    assert sorted(i for s in shards for i in s) == list(range(64 * 8))


# ---------------------------------------------------------------------------------------------
# Token budget
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    dataset_lengths(),
    st.integers(300, 2000),
    st.sampled_from([None, 1, 3, 8]),
    st.sampled_from([None, 1, 5]),
    st.booleans(),
)
def test_token_budget_respected(lengths, max_tokens, max_batch, multiple, shuffle):
    sampler = TokenBudgetSampler(
        lengths,
        max_tokens,
        max_batch_size=max_batch,
        pad_to_multiple_of=multiple,
        shuffle=shuffle,
    )
    batches = list(sampler)
    assert all_indices(batches) == list(range(len(lengths)))
    for b in batches:
        padded = -(-max(lengths[i] for i in b) // (multiple or 1)) * (multiple or 1)
        assert len(b) * padded <= max_tokens
        assert max_batch is None or len(b) <= max_batch


def test_token_budget_packs_greedily():
    sampler = TokenBudgetSampler([2] * 10, max_tokens=7, shuffle=False)
    assert [len(b) for b in sampler] == [3, 3, 3, 1]
    sampler = TokenBudgetSampler([2] * 10, max_tokens=7, shuffle=False, drop_last=True)
    assert [len(b) for b in sampler] == [3, 3, 3]
    sampler = TokenBudgetSampler([3, 3, 4], max_tokens=8, shuffle=False, pad_to_multiple_of=4)
    assert list(sampler) == [[0, 1], [2]]


def test_token_budget_too_long_sequence_message():
    with pytest.raises(DataError) as exc:
        TokenBudgetSampler([10, 700, 20, 900], max_tokens=512)
    msg = str(exc.value)
    assert "lengths[1]" in msg and "length 700" in msg and "1 more" in msg
    assert "raise max_tokens to at least 900" in msg and "truncate" in msg
    with pytest.raises(DataError, match="after rounding"):
        TokenBudgetSampler([10, 490], max_tokens=500, pad_to_multiple_of=64)


def test_token_budget_zero_lengths_count_as_one_step():
    batches = list(TokenBudgetSampler([0, 0, 0, 0, 0], max_tokens=2, shuffle=False))
    assert [len(b) for b in batches] == [2, 2, 1]


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"batch_size": 0}, ConfigError, "batch_size"),
        ({"batch_size": 2.5}, ConfigError, "batch_size"),
        ({"rank": 2, "world_size": 2}, ConfigError, "0 <= rank < world_size"),
        ({"rank": -1}, ConfigError, "rank"),
        ({"world_size": 0}, ConfigError, "world_size"),
        ({"seed": -1}, ConfigError, "seed"),
        ({"bucket_size_multiplier": 0}, ConfigError, "bucket_size_multiplier"),
        ({"lengths": []}, DataError, "non-empty"),
        ({"lengths": [[1, 2]]}, DataError, "1-D"),
        ({"lengths": [1.0, 2.0]}, DataError, "integer lengths"),
        ({"lengths": [3, -1]}, DataError, r"lengths\[1\]"),
    ],
)
def test_bucket_sampler_validation(kwargs, error, pattern):
    args = {"lengths": [1, 2, 3], "batch_size": 2} | kwargs
    with pytest.raises(error, match=pattern):
        BucketBatchSampler(**args)


def test_token_sampler_validation_and_epoch():
    with pytest.raises(ConfigError, match="max_tokens"):
        TokenBudgetSampler([1, 2], max_tokens=0)
    with pytest.raises(ConfigError, match="max_batch_size"):
        TokenBudgetSampler([1, 2], max_tokens=10, max_batch_size=0)
    with pytest.raises(ConfigError, match="pad_to_multiple_of"):
        TokenBudgetSampler([1, 2], max_tokens=10, pad_to_multiple_of=-2)
    with pytest.raises(ConfigError, match="epoch"):
        TokenBudgetSampler([1, 2], max_tokens=10).set_epoch(-1)


def test_lengths_accept_tensor_and_zero_batches_is_empty():
    sampler = BucketBatchSampler(torch.tensor([1, 2, 3]), batch_size=4, drop_last=True)
    assert len(sampler) == 0 and list(sampler) == []
