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
