"""The MiniRocket baseline (aeon) on ragged series: lengths, choices on validation."""

import json
import sys

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from padless.errors import DataError, MissingDependencyError  # noqa: E402
from padless.evaluation.metrics import compute_metrics  # noqa: E402
from padless.evaluation.minirocket import (  # noqa: E402
    LENGTH_MODES,
    MIN_LENGTH,
    equal_length,
    fit_minirocket,
)
from tests.evaluation.series import FREQS, make_series  # noqa: E402

KERNELS = 252  # aeon's MiniRocket uses multiples of 84; small keeps each test quick


@pytest.fixture(scope="module")
def data():
    """Train with lengths 1..8 (shorter than MiniRocket's 9) and one 400-step outlier."""
    short = list(range(1, MIN_LENGTH))
    rng = np.random.default_rng(0)
    lengths = short + [400] + list(rng.integers(20, 80, size=90))
    train = make_series(len(lengths), 1, lengths=lengths)
    return train, make_series(40, 2), make_series(60, 3)


def fit(train, valid, **kw):
    """Few kernels and one length mode unless a test asks otherwise."""
    kw = {
        "task": "multiclass",
        "num_classes": 3,
        "n_kernels": KERNELS,
        "length_mode": "pad_zero",
        **kw,
    }
    return fit_minirocket(train[0], train[1], *(valid or (None, None)), **kw)


def test_equal_length_modes():
    x = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)  # T=2, F=2
    one = np.array([[5.0, 7.0]], dtype=np.float32)
    zero = equal_length([x, one], "pad_zero", 4)
    assert zero.shape == (2, 2, 4) and zero.dtype == np.float32
    np.testing.assert_array_equal(zero[0], [[1, 3, 0, 0], [10, 30, 0, 0]])
    np.testing.assert_array_equal(
        equal_length([x], "pad_edge", 4)[0], [[1, 3, 3, 3], [10, 30, 30, 30]]
    )
    np.testing.assert_allclose(equal_length([x], "resample", 5)[0, 0], [1, 1.5, 2, 2.5, 3])
    np.testing.assert_array_equal(equal_length([one], "resample", 3)[0], [[5, 5, 5], [7, 7, 7]])
    # a series longer than the length keeps its head
    np.testing.assert_array_equal(equal_length([x], "pad_zero", 1)[0], [[1], [10]])
    with pytest.raises(DataError, match="length_mode"):
        equal_length([x], "stretch", 4)


@pytest.mark.parametrize("mode", LENGTH_MODES)
def test_ragged_short_and_long_series(data, mode):
    train, valid, test = data
    model = fit(train, valid, length_mode=mode)
    assert model.name == "minirocket" and model.params["length"] == 400
    short = [x for x in train[0] if len(x) < MIN_LENGTH] + [np.zeros((900, 2), np.float32)]
    out = model.outputs(short + test[0])
    assert out.shape == (len(short) + 60, 3) and np.isfinite(out).all()
    json.dumps(model.params)


def test_separable_problem_reaches_high_accuracy(data):
    train, valid, test = data
    model = fit_minirocket(  # the default length modes, both classifiers
        *train, *valid, task="multiclass", num_classes=3, n_kernels=KERNELS,
        classifier=("ridge", "logistic"),
    )  # fmt: skip
    assert set(model.params["validation_scores"]) == {
        f"{m}/{c}" for m in LENGTH_MODES for c in ("ridge", "logistic")
    }
    assert max(model.params["validation_scores"].values()) >= 0.9
    metrics = compute_metrics("multiclass", test[1], model.outputs(test[0]), num_classes=3)
    assert metrics["accuracy"] >= 0.9


def test_choice_ignores_test_labels(data):
    train, valid, test = data
    first = fit(train, valid, length_mode=LENGTH_MODES)
    shuffled = np.random.default_rng(0).permutation(test[1])  # never passed to the fit
    second = fit(train, valid, length_mode=LENGTH_MODES)
    assert first.params == second.params
    np.testing.assert_array_equal(first.outputs(test[0]), second.outputs(test[0]))
    assert not np.array_equal(shuffled, test[1])
    # the validation labels, by contrast, are what the choice reads
    noisy = fit(train, (valid[0], np.roll(valid[1], 1)), length_mode=LENGTH_MODES)
    assert noisy.params["validation_scores"] != first.params["validation_scores"]


def test_without_validation_holds_out_then_refits_on_all_of_train(data):
    train, _, test = data
    model = fit(train, None, length_mode=LENGTH_MODES, seed=3)
    assert "15%" in model.params["chosen_on"]
    assert set(model.params["validation_scores"]) == {f"{m}/ridge" for m in LENGTH_MODES}
    # the refit is the chosen option fitted on all of train
    again = fit(train, None, length_mode=model.params["length_mode"], seed=3)
    assert again.params["validation_scores"] == {}
    np.testing.assert_array_equal(model.outputs(test[0]), again.outputs(test[0]))


def test_binary_and_multiclass_shapes():
    xs, y = make_series(50, 4, num_classes=2)
    binary = fit((xs, y), None, task="binary", num_classes=2)
    out = binary.outputs(xs[:7])
    assert out.shape == (7,)
    assert compute_metrics("binary", y, binary.outputs(xs), num_classes=2)["accuracy"] > 0.9
    # multiclass with classes 2 and 3 absent from train: finite scores below all others
    multi = fit((xs, y), None, task="multiclass", num_classes=4)
    out = multi.outputs(xs)
    assert out.shape == (50, 4) and np.isfinite(out).all()
    assert (out[:, 2:].max(axis=1) < out[:, :2].min(axis=1)).all()


def test_deterministic_under_a_seed(data):
    train, valid, test = data
    a, b = fit(train, valid, seed=5), fit(train, valid, seed=5)
    np.testing.assert_array_equal(a.outputs(test[0]), b.outputs(test[0]))


def test_regression_and_multilabel():
    xs, y = make_series(80, 5)
    freq = np.asarray(FREQS)[y]
    reg = fit((xs, freq), None, task="regression", num_classes=1)
    out = reg.outputs(xs)
    assert out.shape == (80,) and "alpha" in reg.params
    assert compute_metrics("regression", freq, out)["r2"] > 0.8
    labels = np.stack([y == 0, y == 2], axis=1).astype(np.int64)
    ml = fit((xs, labels), None, task="multilabel", num_classes=2)
    out = ml.outputs(xs)
    assert out.shape == (80, 2) and len(ml.params["alpha"]) == 2
    assert compute_metrics("multilabel", labels, out, num_classes=2)["examples"] == 80


def test_patched_inputs_are_unfolded():
    xs, y = make_series(30, 6, lengths=[20] * 30, features=1)
    patched = [x.reshape(5, 4) for x in xs]  # (T/4, 4*F): four steps side by side
    model = fit((patched, y), None, patch_size=4, unpatch=True)
    assert model.params["length"] == 20
    np.testing.assert_array_equal(model.outputs(patched), fit((xs, y), None).outputs(xs))
    kept = fit((patched, y), None, patch_size=4)  # the default keeps the patches as channels
    assert kept.params["length"] == MIN_LENGTH and not kept.params["unpatch"]
    assert kept.outputs(patched).shape == (30, 3)


def test_bad_inputs_raise_data_errors(data):
    train, _, _ = data
    with pytest.raises(DataError, match="tagging"):
        fit(train, None, task="tagging")
    with pytest.raises(DataError, match="classifier"):
        fit(train, None, classifier="svm")
    with pytest.raises(DataError, match="example 0"):
        fit(([np.zeros(5, np.float32)], [0]), None)
    with pytest.raises(DataError, match="two classes"):
        fit((train[0][:3], [1, 1, 1]), None, task="binary", num_classes=2)


def test_missing_aeon_names_the_extra(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon.transformations.collection.convolution_based", None)
    with pytest.raises(MissingDependencyError, match=r"padless\[timeseries\]"):
        fit(data[0], None)
