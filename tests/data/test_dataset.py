"""Tests for padless.data.dataset: the in-memory datasets and the validation split rule."""

import numpy as np
import pytest

from padless.data.dataset import SequenceDataset, TextDataset, assign_validation
from padless.errors import DataError


def test_assign_validation_is_seeded_and_spares_test():
    splits = ["train"] * 90 + [None] * 10 + ["test"] * 20
    a = assign_validation(splits, 0.2, seed=1)
    assert a == assign_validation(splits, 0.2, seed=1)
    assert a.count("valid") == 20 and a[100:] == ["test"] * 20
    assert a != assign_validation(splits, 0.2, seed=2)
    with pytest.raises(DataError, match="split"):
        assign_validation(["holdout"], 0.1, 0)


def test_subset_and_split_keep_rows_aligned():
    text = TextDataset(["a", "b", "c"], ["x", ["y", "z"], "x"], ["train", None, "test"], "t.csv")
    sub = text.subset(np.array([2, 0]))
    assert (sub.texts, sub.labels, sub.splits) == (["c", "a"], ["x", "x"], ["test", "train"])
    assert sub.source == "t.csv" and len(text.split("train")) == 1
    seqs = [np.zeros((n, 2), np.float32) for n in (3, 1, 2)]
    ds = SequenceDataset(
        seqs, ["p", None, "q"], ["train", "test", "train"], ["i", "j", "k"], ["u", "v"]
    )
    train = ds.split("train")
    assert train.ids == ["i", "k"] and train.lengths().tolist() == [3, 2]
    assert train.num_features == 2 and ds.lengths().dtype == np.int64
    train.skipped["x"] = 1
    assert ds.skipped == {}  # a subset owns its counts
