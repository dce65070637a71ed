"""padless.encode.labels: the label space fitted on train (order, task, unseen labels)."""

import pytest

from padless.encode.labels import LabelSpace
from padless.errors import DataError


def test_label_space():
    assert LabelSpace.from_labels(["b", "a", "b"]).classes == ("a", "b")
    assert LabelSpace.from_labels(["10", "2", "1"]).classes == ("1", "2", "10")
    assert LabelSpace.from_labels(["a", "b", "c"]).task == "multiclass"
    with pytest.raises(DataError, match="two classes"):
        LabelSpace.from_labels(["a", "a"])
    with pytest.raises(DataError, match="'z'"):
        LabelSpace.from_labels(["a", "b"]).encode("z")


@pytest.mark.parametrize(
    "labels, task, classes",
    [
        (["0", "1", "1"], "binary", ("0", "1")),  # integer ids stay classes
        ([0, 1], "binary", ("0", "1")),
        (["1", "2", "10"], "multiclass", ("1", "2", "10")),
        (["1.0", "2.0", "3.0"], "multiclass", ("1.0", "2.0", "3.0")),  # integral: classes
        (["0.676", "-2", "1e-3"], "regression", ("target",)),  # one non-integer: a target
        ([0.5, 2.0], "regression", ("target",)),  # floats in memory
        (["0.5", "abc"], "binary", ("0.5", "abc")),
        (["nan", "0.5"], "binary", ("0.5", "nan")),  # not finite: not a target
        ([["x"], []], "multilabel", ("x",)),
        ([[0.5, 1.0], [2.0, 3.0]], "regression", ("target_0", "target_1")),
        ([{"y": 1.0, "z": 2.0}, {"y": 0.0, "z": 1.0}], "regression", ("y", "z")),
    ],
)
def test_auto_task_rules(labels, task, classes):
    space = LabelSpace.from_labels(labels)
    assert (space.task, space.classes) == (task, classes)


def test_regression_targets_encode_by_position_and_check_values():
    one = LabelSpace.from_labels(["1", "2", "3"], task="regression")
    assert one == LabelSpace("regression", ("target",)) and one.num_outputs == 1
    assert one.encode("-2.5") == -2.5 and one.encode(3) == 3.0 and one.encode({"q": 1}) == 1.0
    two = LabelSpace.from_labels([[1.0, 2.0]], task="regression", targets=["a", "b"])
    assert two.classes == ("a", "b") and two.num_outputs == 2
    assert two.encode({"renamed": "1e-3", "other": -1}) == [0.001, -1.0]
    with pytest.raises(DataError, match=r"2 target value\(s\) \(a, b\).*got 1"):
        two.encode({"a": 1.0})
    with pytest.raises(DataError, match="target 'b'.*'x'"):
        two.encode([1.0, "x"])
    with pytest.raises(DataError, match="row 1.*numeric regression target.*'abc'"):
        LabelSpace.from_labels(["0.5", "abc"], task="regression")
    with pytest.raises(DataError, match=r"row 1.*the targets \['y'\]"):
        LabelSpace.from_labels([{"y": 1.0}, {"z": 1.0}])


def test_list_labels_for_one_label_tasks_and_non_lists_for_list_tasks():
    with pytest.raises(DataError) as err:
        LabelSpace.from_labels([["a"], ["b"]], task="multiclass")
    assert "multilabel" in str(err.value) and "tagging" in str(err.value)
    with pytest.raises(DataError) as err:
        LabelSpace.from_labels([["a", "b"], "c"], task="tagging")
    assert "row 1" in str(err.value) and "multilabel" not in str(err.value)
    with pytest.raises(DataError, match="row 0.*a list of labels"):
        LabelSpace.from_labels(["ab", "c"], task="multilabel")
    with pytest.raises(DataError, match="at least one label name"):
        LabelSpace.from_labels([[], []], task="multilabel")
    space = LabelSpace.from_labels([["x", "y"], []])
    assert space.encode([]) == [0.0, 0.0]
    with pytest.raises(DataError, match="a list of labels"):
        space.encode("xy")
    tags = LabelSpace.from_labels([["D", "N"]], task="tagging")
    assert tags.encode(["N", "D"]).tolist() == [1, 0]
    with pytest.raises(DataError) as err:
        tags.encode("DN")
    assert "one tag per" in str(err.value) and "multilabel" not in str(err.value)
