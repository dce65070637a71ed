"""Tests for padless.data.synthetic: the seeded sum-mod, running-sum-mod and adding tasks and
their train / valid / test splits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from padless.data import synthetic as S
from padless.data.dataset import SequenceDataset
from padless.errors import DataError


def test_sum_mod_labels_lengths_and_ids():
    ds = S.sum_mod(500, k=7, min_length=3, max_length=20, vocab=5, seed=3)
    assert isinstance(ds, SequenceDataset) and len(ds) == 500
    lengths = ds.lengths()
    assert lengths.min() >= 3 and lengths.max() <= 20 and len(set(lengths.tolist())) > 10
    for seq, label in zip(ds.sequences, ds.labels, strict=True):
        assert seq.dtype == np.int64 and seq.ndim == 1
        assert seq.min() >= 1 and seq.max() <= 5  # id 0 is padding
        assert label == str(int((seq - 1).sum()) % 7)
    assert set(ds.labels) == {str(i) for i in range(7)}
    assert ds.splits == [None] * 500 and ds.feature_names == ["token"]


def test_sum_mod_deterministic_and_seed_dependent():
    a, b, c = S.sum_mod(50, seed=1), S.sum_mod(50, seed=1), S.sum_mod(50, seed=2)
    assert a.labels == b.labels and all(
        np.array_equal(x, y) for x, y in zip(a.sequences, b.sequences, strict=True)
    )
    assert not all(
        x.shape == y.shape and np.array_equal(x, y)
        for x, y in zip(a.sequences, c.sequences, strict=True)
    )
    fixed = S.sum_mod(20, min_length=4, max_length=4, seed=0)
    assert (fixed.lengths() == 4).all()


def test_adding_problem_markers_and_targets():
    ds = S.adding_problem(300, min_length=2, max_length=50, seed=5)
    assert ds.feature_names == ["value", "marker"]
    lengths = ds.lengths()
    assert lengths.min() >= 2 and lengths.max() <= 50
    for x, y in zip(ds.sequences, ds.labels, strict=True):
        assert x.dtype == np.float32 and x.shape[1] == 2
        t = x.shape[0]
        values, marker = x[:, 0], x[:, 1]
        assert ((values >= 0) & (values < 1)).all()
        assert set(np.unique(marker).tolist()) <= {0.0, 1.0}
        (a, b) = np.flatnonzero(marker)  # exactly two markers
        assert a < t // 2 <= b  # one in each half
        assert isinstance(y, float)
        assert y == float(np.float64(values[a]) + np.float64(values[b]))
    again = S.adding_problem(300, min_length=2, max_length=50, seed=5)
    assert again.labels == ds.labels
    assert S.adding_problem(300, min_length=2, max_length=50, seed=6).labels != ds.labels


def test_synthetic_argument_errors():
    with pytest.raises(DataError, match="min_length"):
        S.sum_mod(3, min_length=0)
    with pytest.raises(DataError, match="min_length"):
        S.adding_problem(3, min_length=1)
    with pytest.raises(DataError, match="n >= 0"):
        S.sum_mod(-1)
    with pytest.raises(DataError, match="task"):
        S.make_splits("nope", 1)
    assert len(S.sum_mod(0)) == 0 and len(S.adding_problem(0)) == 0


def test_make_splits():
    ds = S.make_splits("sum_mod", 30, 10, 20, seed=4, k=3, max_length=10)
    assert Counter(ds.splits) == {"train": 30, "valid": 10, "test": 20}
    assert len(set(ds.ids)) == 60 and ds.ids[0] == "train-0" and ds.ids[-1] == "test-19"
    assert set(ds.labels) <= {"0", "1", "2"} and ds.lengths().max() <= 10
    same = S.make_splits("sum_mod", 30, 10, 20, seed=4, k=3, max_length=10)
    assert ds.labels == same.labels
    # each split has its own derived seed ...
    train, test = ds.split("train"), ds.split("test")
    assert [s.tolist() for s in train.sequences[:20]] != [s.tolist() for s in test.sequences]
    assert len({S.split_seed(4, s) for s in ("train", "valid", "test")}) == 3
    # ... and the train set does not depend on the other splits' sizes
    only_train = S.make_splits(S.sum_mod, 30, seed=4, k=3, max_length=10)
    assert [s.tolist() for s in only_train.sequences] == [s.tolist() for s in train.sequences]
    other = S.make_splits("sum_mod", 30, seed=5, k=3, max_length=10)
    assert [s.tolist() for s in other.sequences] != [s.tolist() for s in train.sequences]
    add = S.make_splits("adding_problem", 5, 0, 5, seed=0, max_length=20)
    assert Counter(add.splits) == {"train": 5, "test": 5} and add.num_features == 2


def test_running_sum_mod_tags_every_step():
    ds = S.running_sum_mod(40, k=4, min_length=1, max_length=12, vocab=6, seed=2)
    for seq, tags in zip(ds.sequences, ds.labels, strict=True):
        assert seq.dtype == np.int64 and len(tags) == len(seq)
        assert tags == [str(int(t) % 4) for t in np.cumsum(seq - 1)]
    same = S.sum_mod(40, k=4, min_length=1, max_length=12, vocab=6, seed=2)
    assert [s.tolist() for s in same.sequences] == [s.tolist() for s in ds.sequences]
    assert [t[-1] for t in ds.labels] == same.labels  # the last tag is the sum-mod label
