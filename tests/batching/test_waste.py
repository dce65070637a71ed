"""padless.batching.waste: padding accounting of given batches, and the lengths report (analysis,
text and histogram)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.batching.waste import (
    LengthReport,
    analyze_lengths,
    format_report,
    padding_totals,
    padding_waste,
    plot_histogram,
)
from padless.errors import ConfigError, DataError
from tests.variants import dataset_lengths, skewed_lengths

FAST = settings(max_examples=40, deadline=None)
NAMES = ["fixed", "random", "bucket", "sorted", "token_budget"]


def test_two_sequences_one_batch():
    report = analyze_lengths(np.array([1, 3]), batch_size=2, max_tokens=6, cap=None, caps=())
    assert [s.name for s in report.strategies] == NAMES
    for s in report.strategies:
        assert s.waste == pytest.approx(2 / 6), s.name
        assert s.num_batches == 1 and s.computed_steps == 6 and s.real_steps == 4
    # default budget: batch_size * median = 2 * 2 = 4 < 2 * 3, so the two are split
    default = analyze_lengths(np.array([1, 3]), batch_size=2, cap=None, caps=())
    assert default.max_tokens == 4
    assert default.strategy("token_budget").num_batches == 2
    assert default.strategy("token_budget").waste == 0.0


def test_cap_applies_before_batching():
    report = analyze_lengths(np.array([1, 3]), batch_size=2, cap=2, caps=())
    for s in report.strategies:  # capped lengths [1, 2], one batch padded to 2
        assert s.computed_steps == 4 and s.real_steps == 3
        assert s.waste == pytest.approx(1 / 4)
    # fixed pads to the cap even when every sequence is shorter
    fixed = analyze_lengths(np.array([1, 3]), batch_size=2, cap=10, caps=()).strategy("fixed")
    assert fixed.computed_steps == 20 and fixed.waste == pytest.approx(16 / 20)


def test_sorted_separates_short_and_long():
    report = analyze_lengths(np.array([1, 3, 1, 3]), batch_size=2, cap=None, caps=())
    assert report.strategy("sorted").waste == 0.0
    assert report.strategy("sorted").num_batches == 2
    assert report.strategy("fixed").computed_steps == 12
    assert report.strategy("fixed").waste == pytest.approx(4 / 12)


def test_token_budget_strategy_uses_max_tokens():
    report = analyze_lengths(np.array([2] * 10), batch_size=4, max_tokens=7, cap=None, caps=())
    budget = report.strategy("token_budget")
    assert budget.num_batches == 4 and budget.waste == 0.0  # 3 + 3 + 3 + 1
    assert report.max_tokens == 7


def test_default_max_tokens_fits_longest_sequence():
    report = analyze_lengths(np.array([1, 1, 1, 500]), batch_size=2, cap=None, caps=())
    assert report.max_tokens == 500  # 2 * median 1 would not fit the outlier
    assert report.strategy("token_budget").real_steps == 503


def test_truncation_numbers():
    raw = np.array([100, 200, 300, 600])
    report = analyze_lengths(raw, caps=(128, 256, 512, 1024), cap=None)
    by_cap = {t.cap: t for t in report.truncation}
    assert by_cap[128].share_truncated == pytest.approx(3 / 4)
    assert by_cap[128].share_tokens_lost == pytest.approx((72 + 172 + 472) / 1200)
    assert by_cap[256].share_truncated == pytest.approx(2 / 4)
    assert by_cap[256].share_tokens_lost == pytest.approx((44 + 344) / 1200)
    assert by_cap[512].share_truncated == pytest.approx(1 / 4)
    assert by_cap[512].share_tokens_lost == pytest.approx(88 / 1200)
    assert by_cap[1024].share_truncated == 0.0 and by_cap[1024].share_tokens_lost == 0.0


def test_summary_stats_and_json():
    raw = np.arange(1, 101)
    report = analyze_lengths(raw, batch_size=8)
    assert (report.n, report.min, report.max) == (100, 1, 100)
    assert report.mean == pytest.approx(50.5) and report.median == pytest.approx(50.5)
    assert report.p90 == pytest.approx(np.percentile(raw, 90))
    assert report.p99 == pytest.approx(np.percentile(raw, 99))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n"] == 100 and data["cap"] == 512 and data["batch_size"] == 8
    assert [s["name"] for s in data["strategies"]] == NAMES
    assert [t["cap"] for t in data["truncation"]] == [128, 256, 512, 1024]
    with pytest.raises(KeyError):
        report.strategy("nope")


def test_format_report_is_readable():
    report = analyze_lengths(np.array([5, 10, 20, 40, 80, 160, 1000]), batch_size=2)
    text = format_report(report)
    for word in [*NAMES, "median", "p99", "waste", "Truncation", "cap 512"]:
        assert word in text
    assert f"{100 * report.strategy('bucket').waste:.1f}%" in text
    assert not text.endswith("\n")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 2000), min_size=1, max_size=300),
    st.integers(1, 64),
    st.sampled_from([None, 64, 512]),
)
def test_report_invariants(lengths, batch_size, cap):
    report = analyze_lengths(np.array(lengths), batch_size=batch_size, cap=cap)
    assert isinstance(report, LengthReport)
    capped = np.minimum(lengths, cap) if cap else np.array(lengths)
    for s in report.strategies:
        assert 0.0 <= s.waste <= 1.0
        assert s.real_steps == int(capped.sum())
        assert s.computed_steps >= s.real_steps
    sorted_ = report.strategy("sorted")
    assert sorted_.num_batches == report.strategy("random").num_batches
    assert sorted_.computed_steps <= report.strategy("fixed").computed_steps
    for t in report.truncation:
        assert 0.0 <= t.share_tokens_lost < 1.0 and 0.0 <= t.share_truncated <= 1.0
        assert (t.share_tokens_lost > 0) == (t.share_truncated > 0)


def test_waste_on_imdb_like_lengths():
    # Speed is measured in BENCHMARKS.md, not here; this checks the numbers on 25k lengths.
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(5.2, 0.7, size=25_000).astype(np.int64), 4, 2500)
    report = analyze_lengths(lengths)
    assert report.strategy("bucket").waste < 0.05 < 0.3 < report.strategy("random").waste


def test_histogram_png(tmp_path):
    lengths = np.random.default_rng(0).integers(1, 700, size=2000)
    path = plot_histogram(lengths, tmp_path / "hist.png", cap=512)
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain = plot_histogram([3, 3, 3], str(tmp_path / "tiny.png"))
    assert plain.stat().st_size > 0


@pytest.mark.parametrize(
    ("lengths", "kwargs", "error"),
    [
        ([], {}, DataError),
        ([[1, 2]], {}, DataError),
        ([1.5, 2.0], {}, DataError),
        ([3, -1], {}, DataError),
        ([1, 2], {"batch_size": 0}, ConfigError),
        ([1, 2], {"cap": 0}, ConfigError),
        ([1, 2], {"caps": (128, -5)}, ConfigError),
        ([1, 2], {"max_tokens": 0}, ConfigError),
    ],
)
def test_validation(lengths, kwargs, error):
    with pytest.raises(error):
        analyze_lengths(np.array(lengths), **kwargs)


# ---------------------------------------------------------------------------------------------
# Length homogeneity and padding accounting
# ---------------------------------------------------------------------------------------------


def random_batches(n, batch_size, seed=0):
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def test_bucketing_cuts_waste_on_skewed_lengths():
    lengths = skewed_lengths(6000)
    bucket = padding_waste(lengths, BucketBatchSampler(lengths, 32, seed=0))
    tokens = padding_waste(lengths, TokenBudgetSampler(lengths, 32 * 90, seed=0))
    random = padding_waste(lengths, random_batches(len(lengths), 32))
    # a heavy tail (lengths up to ~2000) keeps some spread inside the longest batches
    assert random > 0.5
    assert bucket < random / 4 and bucket < 0.2
    assert tokens < 0.05
    assert padding_waste(lengths, BucketBatchSampler(lengths, 32, shuffle=False)) < bucket


def test_padding_waste_hand_computed():
    assert padding_waste([1, 3], [[0, 1]]) == pytest.approx(2 / 6)
    assert padding_waste([1, 3], [[0], [1]]) == 0.0
    assert padding_totals([1, 1, 3, 3], [[0, 2], [1, 3]]) == (8, 12)
    assert padding_totals([1, 3], [[0, 1]], pad_to_multiple_of=4) == (4, 8)
    assert padding_waste([1, 2], []) == 0.0
    assert padding_waste(np.array([5, 5]), [np.array([0, 1])]) == 0.0


@FAST
@given(dataset_lengths(), st.integers(1, 16))
def test_padding_waste_in_unit_interval(lengths, batch_size):
    batches = list(BucketBatchSampler(lengths, batch_size))
    waste = padding_waste(lengths, batches)
    assert 0.0 <= waste < 1.0
    real, computed = padding_totals(lengths, batches)
    assert real == sum(lengths) and computed >= real
