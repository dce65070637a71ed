"""Tests for padless.batching.budget: the greedy batch-budget cut and the padded step cost.

The cut is shared by TokenBudgetSampler and the server's MicroBatcher; the reference loops
below are the cuts each of them made on its own before, so equality with them pins the batches
both still produce.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.batching.budget import cut_to_budget, padded_steps

FAST = settings(max_examples=200, deadline=None)


def sampler_reference(cost: np.ndarray, max_tokens: int, max_batch_size: int | None) -> list:
    """TokenBudgetSampler's former pool cut (costs >= 1, each within max_tokens)."""
    n = cost.size
    cap = min(max_batch_size or max_tokens, n)
    out, start = [], 0
    while start < n:
        stop = min(n, start + cap)
        padded = np.arange(1, stop - start + 1) * cost[start:stop]
        k = int(np.searchsorted(padded, max_tokens, side="right"))
        out.append(list(range(start, start + k)))
        start += k
    return out


def batcher_reference(lengths: list[int], budget: int) -> list:
    """MicroBatcher's former grouping loop over length-sorted items."""
    groups, current = [], []
    for i, n in enumerate(lengths):
        if current and (len(current) + 1) * n > budget:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def as_lists(cuts: list[slice]) -> list[list[int]]:
    return [list(range(c.start, c.stop)) for c in cuts]


sorted_costs = st.lists(st.integers(0, 60), max_size=120).map(sorted)


# ------------------------------------------------------------------------------- properties
@FAST
@given(sorted_costs, st.integers(-3, 400), st.one_of(st.none(), st.integers(1, 12)))
def test_cut_is_within_budget_maximal_and_in_order(costs, budget, max_count):
    cuts = cut_to_budget(costs, budget, max_count=max_count)
    # order kept: consecutive slices covering every item exactly once
    assert [i for c in cuts for i in range(c.start, c.stop)] == list(range(len(costs)))
    for cut in cuts:
        size = cut.stop - cut.start
        assert size >= 1
        if max_count is not None:
            assert size <= max_count
        padded = size * costs[cut.stop - 1]
        assert padded <= budget or size == 1  # only a lone item may exceed the budget
        if cut.stop < len(costs):  # maximal: the next item would break the budget or the cap
            grown = (size + 1) * costs[cut.stop]
            assert grown > budget or (max_count is not None and size == max_count)


@FAST
@given(sorted_costs, st.integers(-3, 400))
def test_cut_equals_the_micro_batchers_former_loop(lengths, budget):
    assert as_lists(cut_to_budget(lengths, budget)) == batcher_reference(lengths, budget)


@FAST
@given(
    st.lists(st.integers(0, 80), min_size=1, max_size=150),
    st.integers(1, 200),
    st.one_of(st.none(), st.integers(1, 20)),
    st.one_of(st.none(), st.integers(1, 8)),
)
def test_cut_equals_the_samplers_former_cut(lengths, max_tokens, max_batch_size, multiple):
    cost = np.sort(padded_steps(lengths, multiple))
    max_tokens = max(max_tokens, int(cost.max()))  # the sampler refuses longer sequences
    cuts = cut_to_budget(cost, max_tokens, max_count=max_batch_size)
    assert as_lists(cuts) == sampler_reference(cost, max_tokens, max_batch_size)


# -------------------------------------------------------------------------------- examples
def test_a_lone_item_over_the_budget_forms_its_own_batch():
    assert as_lists(cut_to_budget([3, 3, 50, 60], 10)) == [[0, 1], [2], [3]]


def test_max_count_caps_the_batch():
    assert as_lists(cut_to_budget([1] * 7, 100, max_count=3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_zero_costs_fit_any_budget_and_empty_input_gives_no_batches():
    assert as_lists(cut_to_budget([0, 0, 0, 4], 8)) == [[0, 1, 2], [3]]
    assert as_lists(cut_to_budget([0, 0, 0, 4], 16)) == [[0, 1, 2, 3]]
    assert cut_to_budget([], 8) == []


def test_padded_steps_counts_zero_as_one_and_rounds_up():
    assert padded_steps([0, 1, 5, 8]).tolist() == [1, 1, 5, 8]
    assert padded_steps([0, 1, 5, 8, 9], 4).tolist() == [4, 4, 8, 8, 12]
    assert padded_steps(np.array([2, 3], dtype=np.int32)).dtype == np.int64


@pytest.mark.parametrize(
    ("costs", "max_count", "match"),
    [
        ([3, 1], None, r"costs\[1\]: expected ascending steps, got 1 after 3\. Fix: sort"),
        ([-1, 2], None, r"costs\[0\]: expected steps >= 0, got -1"),
        ([[1, 2]], None, "expected a 1-D array of steps, got shape"),
        ([1, 2], 0, "max_count: expected None or at least 1, got 0"),
    ],
)
def test_bad_arguments_are_refused(costs, max_count, match):
    with pytest.raises(ValueError, match=match):
        cut_to_budget(costs, 10, max_count=max_count)


def test_importing_budget_does_not_import_torch():
    code = "import sys, padless.batching.budget; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
