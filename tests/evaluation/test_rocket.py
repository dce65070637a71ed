"""The rocket model: a MiniRocket-style path fitted on train, chosen on validation."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from padless.errors import DataError  # noqa: E402
from padless.evaluation.metrics import compute_metrics  # noqa: E402
from padless.evaluation.rocket import (  # noqa: E402
    MAX_DILATIONS,
    fit_dilations,
    fit_rocket_model,
)
from padless.models.rocket import RocketLinear  # noqa: E402
from tests.evaluation.series import make_series  # noqa: E402

FEATURES = 336  # 4 per kernel: keeps each fit quick


@pytest.fixture(scope="module")
def data():
    """Train with lengths 1..8 (shorter than the kernel span) and one 400-step outlier."""
    rng = np.random.default_rng(0)
    lengths = list(range(1, 9)) + [400] + list(rng.integers(20, 80, size=90))
    return make_series(len(lengths), 1, lengths=lengths), make_series(40, 2), make_series(60, 3)


def fit(train, valid, **kw):
    kw = {"task": "multiclass", "num_classes": 3, "n_features": FEATURES, **kw}
    return fit_rocket_model(train[0], train[1], *(valid or (None, None)), **kw)


@pytest.fixture(scope="module")
def model(data):
    return fit(data[0], data[1])


def test_dilations_follow_minirocket():
    dil, per = fit_dilations(300, 10_000)
    assert sum(per) == 10_000 // 84 and len(dil) <= MAX_DILATIONS
    assert dil[0] == 1 and dil[-1] * 8 + 1 <= 300 and dil == sorted(set(dil))
    assert fit_dilations(3, 840) == ([1], [10])


def test_separable_problem_reaches_high_accuracy(data, model):
    test = data[2]
    acc = compute_metrics("multiclass", test[1], model.outputs(test[0]), 3)["accuracy"]
    assert acc >= 0.95
    assert model.name == "rocket"
    assert model.params["chosen_on"] == "the validation split"
    json.dumps(model.params)


def test_module_computes_the_scores_and_rebuilds(data, model):
    xs = data[2][0][:7]
    module = RocketLinear.from_config(json.loads(json.dumps(model.module_config())))
    module.load_state_dict(model.to_module().state_dict())
    t = max(len(x) for x in xs) + 5
    x = torch.zeros(len(xs), t, 2)
    for i, s in enumerate(xs):
        x[i, : len(s)] = torch.from_numpy(s)
    lengths = torch.tensor([len(s) for s in xs])
    with torch.no_grad():
        got = module.eval()(x, lengths).numpy()
    np.testing.assert_allclose(got, model.scores(xs), rtol=1e-5, atol=1e-5)
    assert model.outputs(xs).shape == (7, 3)


def test_choice_uses_validation_scores_only(data, model):
    scores = model.params["validation_scores"]
    key = f"{model.params['length_mode']}/{model.params['classifier']}/"
    key += f"{model.params.get('C', model.params.get('alpha')):g}"
    assert scores[key] == max(scores.values())
    ties = [k for k, v in scores.items() if v == scores[key]]  # broken by the lowest log loss
    loss = model.params["validation_log_loss"]
    assert loss[key] == min(loss[k] for k in ties)
    train, valid = data[0], data[1]
    perm = np.random.default_rng(5).permutation(len(valid[0]))
    again = fit(train, ([valid[0][i] for i in perm], valid[1][perm]))
    # the order of the validation split does not matter (log losses: up to float rounding)
    assert {k: pytest.approx(v) for k, v in loss.items()} == again.params["validation_log_loss"]
    drop = "validation_log_loss"
    assert {k: v for k, v in again.params.items() if k != drop} == {
        k: v for k, v in model.params.items() if k != drop
    }
    shuffled = fit(train, (valid[0], np.random.default_rng(1).permutation(valid[1])))
    assert shuffled.params["validation_scores"] != scores  # the labels do


def test_without_validation_holds_out_train(data):
    m = fit(data[0], None, classifier=["ridge", "logistic"], length_mode=["native", "pad_zero"])
    assert m.params["chosen_on"].startswith("a seeded 15%")
    assert len(m.params["validation_scores"]) == 2 * (7 + 5)
    test = data[2]
    assert compute_metrics("multiclass", test[1], m.outputs(test[0]), 3)["accuracy"] >= 0.9


def test_pad_zero_mode_reads_short_series_as_padded(data):
    m = fit(data[0], data[1], length_mode="pad_zero")
    assert m.module.min_length == 400 == m.params["min_length"]
    short = data[2][0][0][:10]
    padded = np.concatenate([short, np.zeros((390, 2), np.float32)])
    np.testing.assert_allclose(m.scores([short]), m.scores([padded]), rtol=1e-5, atol=1e-5)


def test_binary_regression_and_absent_classes(data):
    (xs, y), valid = data[0], data[1]
    b = fit((xs, (y == 1).astype(int)), (valid[0], (valid[1] == 1).astype(int)), task="binary",
            num_classes=2)  # fmt: skip
    assert b.outputs(valid[0]).shape == (40,)
    r = fit((xs, y.astype(float)), (valid[0], valid[1].astype(float)), task="regression",
            num_classes=1)  # fmt: skip
    assert r.outputs(valid[0]).shape == (40,) and r.params["classifier"] == "ridge"
    four = fit(data[0], data[1], num_classes=4)
    out = four.outputs(valid[0])
    assert out.shape == (40, 4) and not np.any(out.argmax(axis=1) == 3)


@pytest.mark.parametrize(
    ("kw", "inputs"),
    [
        ({"task": "tagging"}, None),
        ({"classifier": "svm"}, None),
        ({"n_features": 10}, None),
        ({}, [np.zeros((0, 2), np.float32)]),
        ({}, [np.zeros(5, np.float32)]),
    ],
)
def test_rejects_bad_input(data, kw, inputs):
    xs, y = data[0]
    if inputs is not None:
        xs, y = inputs + xs[1:], y
    with pytest.raises(DataError):
        fit((xs, y), None, **kw)


def test_needs_two_classes(data):
    xs = data[0][0]
    with pytest.raises(DataError):
        fit((xs, np.zeros(len(xs), dtype=int)), None)
