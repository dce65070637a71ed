"""Tests for padless.encode.normalizer: per-feature standardisation fitted on the train split
only, its saved state, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from padless.data.dataset import SequenceDataset
from padless.encode.normalizer import Normalizer, fit_normalizer
from padless.errors import ArtifactError, DataError


# ----------------------------------------------------------------------------- Normalizer
def _toy_split_dataset() -> SequenceDataset:
    train = [
        np.array([[1, 5], [3, 5]], np.float32),
        np.array([[5, 5]], np.float32),
    ]
    test = [np.array([[100, -7], [300, 9]], np.float32)]
    return SequenceDataset(
        sequences=train + test,
        labels=["a", "b", "a"],
        splits=["train", "train", "test"],
        ids=["0", "1", "2"],
        feature_names=["f0", "f1"],
    )


def test_normalizer_fit_on_train_only_without_leak():
    ds = _toy_split_dataset()
    norm = fit_normalizer(ds)
    # train steps of f0: 1, 3, 5 -> mean 3, population std sqrt(8/3); f1 constant -> std 1
    np.testing.assert_allclose(norm.mean, [3.0, 5.0])
    np.testing.assert_allclose(norm.std, [np.sqrt(8 / 3), 1.0])
    assert norm.n_steps == 3 and norm.feature_names == ["f0", "f1"]
    # Changing the test data changes nothing about the fitted statistics.
    ds.sequences[2] = ds.sequences[2] * 1000
    again = fit_normalizer(ds)
    np.testing.assert_array_equal(again.mean, norm.mean)
    np.testing.assert_array_equal(again.std, norm.std)
    # The test split is transformed with the train statistics, not its own.
    out = norm.transform(ds.split("test").sequences)[0]
    expected = (ds.sequences[2].astype(np.float64) - [3.0, 5.0]) / [np.sqrt(8 / 3), 1.0]
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-6)
    assert out.dtype == np.float32
    assert abs(float(out[:, 0].mean())) > 1.0  # far from the 0 its own statistics would give
    train_out = np.concatenate(norm.transform(ds.split("train").sequences))
    np.testing.assert_allclose(train_out.mean(axis=0), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(train_out[:, 0].std(), 1.0, rtol=1e-6)


def test_normalizer_round_trip_through_json():
    norm = Normalizer.fit(
        [np.array([[0.1, 2.0], [0.7, -3.0]]), np.array([[1 / 3, 4.0]])], ["a", "b"]
    )
    state = json.loads(json.dumps(norm.to_dict()))
    back = Normalizer.from_dict(state)
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.std, norm.std)
    assert back.feature_names == ["a", "b"] and back.n_steps == 3
    x = [np.array([[0.2, 1.0]], np.float32)]
    np.testing.assert_array_equal(back.transform(x)[0], norm.transform(x)[0])


@pytest.mark.parametrize(
    "state",
    [
        {"type": "minmax", "mean": [0.0], "std": [1.0]},
        {"type": "standard", "mean": [0.0, 1.0], "std": [1.0]},
        {"type": "standard", "mean": [0.0], "std": [0.0]},
        {"type": "standard", "std": [1.0]},
        {"type": "standard", "mean": [0.0], "std": [1.0], "feature_names": ["a", "b"]},
    ],
)
def test_normalizer_from_dict_rejects_bad_state(state):
    with pytest.raises(ArtifactError, match="Fix:"):
        Normalizer.from_dict(state)


def test_normalizer_errors():
    ds = _toy_split_dataset()
    with pytest.raises(DataError) as exc:
        fit_normalizer(ds.split("test"))
    msg = str(exc.value)
    assert "'train'" in msg and "{'test': 1}" in msg and "Fix:" in msg
    norm = fit_normalizer(ds)
    with pytest.raises(DataError, match=r"shape \(T, 2\)"):
        norm.transform([np.zeros((3, 3), np.float32)])
    with pytest.raises(DataError, match="finite"):
        Normalizer.fit([np.array([[np.nan, 1.0]])])
    with pytest.raises(DataError, match="at least one sequence"):
        Normalizer.fit([])
