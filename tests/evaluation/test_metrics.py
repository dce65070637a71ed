import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from padless.errors import DataError
from padless.evaluation.metrics import compute_metrics, format_metrics, roc_auc


@pytest.fixture(scope="module")
def skm():
    return pytest.importorskip("sklearn.metrics")


def assert_plain(value):
    """Only builtin JSON types, recursively (np.float64 subclasses float, so check type)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            assert_plain(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain(v)
    else:
        assert value is None or type(value) in (int, float, str, bool), (value, type(value))


# --------------------------------------------------------------------------- hand-computed


def test_binary_hand_computed():
    m = compute_metrics("binary", np.array([0, 0, 1, 1]), np.array([-1.0, 2.0, 3.0, -0.5]))
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    # pairs (pos, neg): (3,-1) (3,2) (-0.5,-1) win, (-0.5,2) loses
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx(0.5)
    assert m["per_class"]["support"] == [2, 2]
    assert m["examples"] == 4
    # (N, 1) outputs give the same result
    m2 = compute_metrics("binary", [0, 0, 1, 1], np.array([[-1.0], [2.0], [3.0], [-0.5]]))
    assert m2 == m


def test_binary_threshold_is_strictly_positive_logit():
    m = compute_metrics("binary", [0, 1], [0.0, 0.0])
    assert m["confusion_matrix"] == [[1, 0], [1, 0]]
    assert m["roc_auc"] == 0.5


def test_auc_ties_count_half():
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    # pos {2, 1}, neg {1, 0}: (2,1) (2,0) (1,0) win, (1,1) tie -> 3.5 / 4
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([2.0, 1.0, 1.0, 0.0])) == 0.875


def test_auc_single_class_is_none_not_crash():
    m = compute_metrics("binary", [1, 1, 1], [0.3, -2.0, 1.0])
    assert m["roc_auc"] is None
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["per_class"]["f1"][0] == 0.0  # class 0: no support, one false positive
    json.dumps(m)


def test_multiclass_hand_computed_with_absent_class():
    # predictions 0, 2, 2, 2; class 3 never appears in targets nor predictions
    out = np.array(
        [[5, 0, 0, 0], [0, 1, 2, 0], [0, 0, 3, 0], [1, 0, 2, 0]],
        dtype=float,
    )
    m = compute_metrics("multiclass", np.array([0, 1, 2, 2]), out, num_classes=4)
    assert m["confusion_matrix"] == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    assert m["accuracy"] == 0.75
    assert m["per_class"]["precision"] == pytest.approx([1.0, 0.0, 2 / 3, 0.0])
    assert m["per_class"]["recall"] == pytest.approx([1.0, 0.0, 1.0, 0.0])
    assert m["per_class"]["f1"] == pytest.approx([1.0, 0.0, 0.8, 0.0])
    assert m["macro_f1"] == pytest.approx(1.8 / 4)  # macro over all 4 classes
    assert "roc_auc" not in m


def test_multilabel_hand_computed():
    y = np.array([[1, 0, 1], [0, 1, 0]])
    out = np.array([[2.0, -1.0, 3.0], [1.0, 1.0, -1.0]])  # row 2 has a false positive on 0
    m = compute_metrics("multilabel", y, out)
    assert m["accuracy"] == 0.5
    assert m["label_accuracy"] == pytest.approx(5 / 6)
    # label 0: tp1 fp1 -> f1 2/3; label 1: f1 1; label 2: f1 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))
    assert m["per_class"]["support"] == [1, 1, 1]


def test_regression_hand_computed():
    m = compute_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [4.0]]))
    assert m["mse"] == pytest.approx(1 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert m["mae"] == pytest.approx(1 / 3)
    assert m["r2"] == pytest.approx(0.5)  # 1 - 1 / 2
    assert compute_metrics("regression", [1.0], [2.0])["r2"] is None


def test_regression_constant_target():
    assert compute_metrics("regression", [2.0, 2.0], [2.0, 2.0])["r2"] == 1.0
    assert compute_metrics("regression", [2.0, 2.0], [2.0, 3.0])["r2"] == 0.0


def test_tagging_counts_steps():
    y = np.array([0, 1, 1, 2, 0])
    out = np.eye(3)[[0, 1, 2, 2, 0]]
    m = compute_metrics("tagging", y, out)
    assert m["examples"] == 5 and m["task"] == "tagging"
    assert m["accuracy"] == 0.8
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_perfect_predictions():
    y = np.array([0, 1, 2, 1])
    m = compute_metrics("multiclass", y, np.eye(3)[y])
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0
    b = compute_metrics("binary", [0, 1, 1], [-1.0, 1.0, 2.0])
    assert b["accuracy"] == b["macro_f1"] == b["roc_auc"] == 1.0


@pytest.mark.parametrize(
    "task,y,out",
    [
        ("binary", [0, 1], [0.1, 0.2]),
        ("multiclass", [0, 2], np.zeros((2, 3))),
        ("multilabel", [[0, 1], [1, 1]], np.zeros((2, 2))),
        ("regression", np.zeros((2, 2)), np.ones((2, 2))),
        ("tagging", [1], np.zeros((1, 2))),
    ],
)
def test_all_values_are_plain_python(task, y, out):
    m = compute_metrics(task, np.asarray(y), np.asarray(out))
    assert_plain(m)
    json.dumps(m)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "task,y,out,num_classes,needle",
    [
        ("binary", [0, 1, 1], [0.1, 0.2], None, "as many outputs"),
        ("binary", [0, 1], np.zeros((2, 2)), None, "one logit"),
        ("binary", [0, 2], [0.1, 0.2], None, "targets 0 or 1"),
        ("binary", [0, 1], [0.1, 0.2], 3, "num_classes 2"),
        ("multiclass", [0, 1], [0.1, 0.2], None, "(N, C)"),
        ("multiclass", [0, 3], np.zeros((2, 3)), None, "[0, 3)"),
        ("multiclass", [0, -1], np.zeros((2, 3)), None, "[0, 3)"),
        ("multiclass", [0, 0.5], np.zeros((2, 3)), None, "[0, 3)"),
        ("multiclass", [0, 1], np.zeros((2, 3)), 4, "4 output columns"),
        ("multiclass", [0, 1], np.array([[0, 1, np.nan], [0, 0, 0]]), None, "finite"),
        ("multilabel", [[0, 1]], np.zeros((1, 3)), None, "same shape"),
        ("multilabel", [[0, 2]], np.zeros((1, 2)), None, "0 or 1"),
        ("regression", [1.0, 2.0], np.zeros((2, 2)), None, "same shape"),
        ("regression", [1.0, np.inf], [1.0, 2.0], None, "finite"),
        ("tagging", [], np.zeros((0, 3)), None, "at least one"),
        ("multiclass", [], [], None, "at least one"),
        ("ranking", [0], [0], None, "one of binary"),
    ],
)
def test_bad_input_raises_data_error(task, y, out, num_classes, needle):
    with pytest.raises(DataError) as err:
        compute_metrics(task, np.asarray(y), np.asarray(out), num_classes=num_classes)
    msg = str(err.value)
    assert needle in msg
    assert "expected" in msg and "got" in msg and "Fix:" in msg


# --------------------------------------------------------------------------- format


def test_format_metrics_table():
    y = np.array([0, 1, 2, 2])
    out = np.eye(3)[[0, 2, 2, 2]]
    m = compute_metrics("multiclass", y, out)
    long = "a-very-long-label-name-that-goes-on-and-on"
    text = format_metrics(m, ["cat", "dog", long])
    lines = text.splitlines()
    assert lines[0] == "multiclass metrics"
    assert any(line.split() == ["accuracy", "0.7500"] for line in lines)
    assert long not in text and long[:10] in text and "…" in text
    dog = [line.split() for line in lines if line.split()[:1] == ["dog"]]
    assert dog[0] == ["dog", "0.0000", "0.0000", "0.0000", "1"]  # per-class row
    assert dog[1] == ["dog", "0", "0", "1"]  # confusion matrix row
    assert "true \\ pred" in text
    assert all(len(line) < 120 for line in lines)


def test_format_metrics_defaults_and_other_tasks():
    m = compute_metrics("binary", [1, 1], [1.0, 2.0])
    text = format_metrics(m, None)
    assert "roc_auc" in text and "n/a" in text
    r = format_metrics(compute_metrics("regression", [1.0, 2.0], [1.0, 2.0]), None)
    assert "r2" in r and "1.0000" in r and "true \\ pred" not in r
    ml = compute_metrics("multilabel", [[1, 0]], [[1.0, -1.0]])
    assert "x-label" in format_metrics(ml, ["x-label", "y"])
    with pytest.raises(DataError, match="2 names"):
        format_metrics(m, ["only-one"])


# --------------------------------------------------------------------------- sklearn cross-checks


def _check_classification(skm, m, y, pred, c):
    labels = list(range(c))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0)
    )
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    assert m["per_class"]["precision"] == pytest.approx(p.tolist())
    assert m["per_class"]["recall"] == pytest.approx(r.tolist())
    assert m["per_class"]["f1"] == pytest.approx(f.tolist())
    assert m["per_class"]["support"] == s.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_binary_matches_sklearn(skm, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    scores = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), 1)  # rounding makes ties
    m = compute_metrics("binary", y, scores)
    _check_classification(skm, m, y, (scores > 0).astype(int), 2)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))


@pytest.mark.parametrize("seed", range(5))
def test_multiclass_and_tagging_match_sklearn(skm, seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 8))
    n = int(rng.integers(1, 200))
    y = rng.integers(0, max(1, c - 1), n)  # the last class never occurs in the targets
    out = rng.normal(size=(n, c))
    out[:, 0] -= 10  # class 0 is never predicted
    for task in ("multiclass", "tagging"):
        m = compute_metrics(task, y, out, num_classes=c)
        _check_classification(skm, m, y, out.argmax(1), c)


def test_multiclass_never_predicted_class_matches_sklearn(skm):
    y = np.array([0, 1, 2, 2, 1])
    pred = np.array([0, 0, 2, 2, 0])
    m = compute_metrics("multiclass", y, np.eye(3)[pred])
    _check_classification(skm, m, y, pred, 3)


@pytest.mark.parametrize("seed", range(5))
def test_multilabel_matches_sklearn(skm, seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 100)), int(rng.integers(2, 6))  # (N, 1) is "binary" to sklearn
    y = rng.integers(0, 2, (n, c))
    y[:, -1] = 0  # a label with no support
    out = rng.normal(size=(n, c))
    pred = (out > 0).astype(int)
    m = compute_metrics("multilabel", y, out)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["label_accuracy"] == pytest.approx(1 - skm.hamming_loss(y, pred))
    for avg in ("macro", "micro"):
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y, pred, average=avg, zero_division=0))


@pytest.mark.parametrize("shape", [(50,), (40, 1), (30, 3)])
def test_regression_matches_sklearn(skm, shape):
    rng = np.random.default_rng(len(shape))
    y = rng.normal(size=shape)
    out = y + rng.normal(scale=0.5, size=shape)
    if len(shape) == 2:
        y[:, 0] = 1.5  # a constant column
    m = compute_metrics("regression", y, out)
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, out))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, out))
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, out))  # mean per target
    assert m["r2"] == pytest.approx(skm.r2_score(y, out))
    per = m["per_target"]
    for name, fn in (
        ("mae", skm.mean_absolute_error),
        ("rmse", skm.root_mean_squared_error),
        ("r2", skm.r2_score),
    ):
        want = fn(y, out, multioutput="raw_values")
        assert per[name] == pytest.approx(want.tolist()), name


def test_regression_several_targets_per_target_and_mean():
    y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    out = np.array([[1.0, 10.0], [2.0, 26.0], [3.0, 30.0]])  # only target 2 is off, by 6
    m = compute_metrics("regression", y, out, num_classes=2)
    assert m["per_target"]["mae"] == [0.0, 2.0] and m["mae"] == 1.0
    assert m["per_target"]["rmse"] == pytest.approx([0.0, np.sqrt(12.0)])
    assert m["rmse"] == pytest.approx(np.sqrt(12.0) / 2) and m["mse"] == pytest.approx(6.0)
    assert m["per_target"]["r2"] == pytest.approx([1.0, 1 - 36 / 200]) and m["r2"] < 1
    text = format_metrics(m, ["price", "volume"])
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert rows["price"] == ["0.0000", "0.0000", "1.0000"]
    assert rows["volume"] == ["2.0000", "3.4641", "0.8200"]
    with pytest.raises(DataError, match="2 names"):
        format_metrics(m, ["price"])
    one = compute_metrics("regression", [1.0], [2.0])
    assert one["per_target"] == {"mae": [1.0], "rmse": [1.0], "r2": [None]}
    assert "n/a" in format_metrics(one, ["target"])


# --------------------------------------------------------------------------- properties

_scores = hnp.arrays(
    np.float64, st.integers(2, 60), elements=st.integers(-5, 5).map(float)
)  # few distinct values -> many ties


@settings(max_examples=60, deadline=None)
@given(data=st.data(), scores=_scores)
def test_auc_properties(skm, data, scores):
    n = len(scores)
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    auc = roc_auc(y, scores)
    if y.min() == y.max():
        assert auc is None
        return
    assert auc == pytest.approx(skm.roc_auc_score(y, scores))
    assert roc_auc(y, -scores) == pytest.approx(1 - auc)
    assert roc_auc(y, np.exp(scores)) == pytest.approx(auc)  # rank-based: monotone-invariant


@settings(max_examples=60, deadline=None)
@given(
    y=hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(0, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_confusion_invariants(y, seed):
    out = np.random.default_rng(seed).normal(size=(len(y), 4))
    m = compute_metrics("multiclass", y, out)
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == len(y) == m["examples"]
    support = np.bincount(y, minlength=4).tolist()
    assert cm.sum(axis=1).tolist() == m["per_class"]["support"] == support
    assert m["accuracy"] == pytest.approx(np.trace(cm) / len(y))
    assert 0.0 <= m["macro_f1"] <= 1.0
    perm = np.random.default_rng(seed).permutation(4)
    m2 = compute_metrics("multiclass", np.argsort(perm)[y], out[:, perm])
    assert m2["macro_f1"] == pytest.approx(m["macro_f1"])  # relabelling classes changes nothing
