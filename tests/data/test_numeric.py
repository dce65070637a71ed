"""Tests for padless.data.numeric: the NaN / inf and empty-sequence policies every numeric
reader applies (exercised through .ts files, whose errors name the line), and concat."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from padless.data.ts import read_ts
from padless.errors import DataError
from tests.data.files import message, ts_file

# ----------------------------------------------------------------------------- NaN policies
NAN_BODY = "1,?,3:4,5,6:a\n1,2:3,4:b\n?,?:1,2:c\n"


def test_missing_value_raises_by_default(tmp_path):
    path = ts_file(tmp_path, NAN_BODY, "nan.ts")
    with pytest.raises(DataError) as exc:
        read_ts(path)
    msg = message(exc)
    for needle in ["nan.ts", "line 10", "id 'nan:0'", "'dim_0'", "time step 1", "drop_steps"]:
        assert needle in msg, msg


def test_nan_policy_drop_steps_counts_and_logs(tmp_path, caplog):
    path = ts_file(tmp_path, "1,?,3:4,5,6:a\n1,2:3,nan:b\n", "nan.ts")
    with caplog.at_level(logging.WARNING, logger="padless.data"):
        ds = read_ts(path, nan_policy="drop_steps")
    assert ds.skipped == {"nan_steps_dropped": 2}
    np.testing.assert_array_equal(ds.sequences[0], [[1, 4], [3, 6]])
    np.testing.assert_array_equal(ds.sequences[1], [[1, 3]])
    assert "nan_steps_dropped" in caplog.text


def test_empty_after_drop_raises_without_skip_empty(tmp_path):
    path = ts_file(tmp_path, NAN_BODY, "nan.ts")
    # With skip_empty left False the all-missing third case must not vanish silently.
    with pytest.raises(DataError) as exc:
        read_ts(path, nan_policy="drop_steps", skip_empty=False)
    msg = message(exc)
    for needle in ["nan.ts", "line 12", "'nan:2'", "after dropping 2 steps", "skip_empty=True"]:
        assert needle in msg, msg


def test_drop_steps_with_skip_empty_counts_both(tmp_path):
    ds = read_ts(ts_file(tmp_path, NAN_BODY, "nan.ts"), nan_policy="drop_steps", skip_empty=True)
    assert ds.skipped == {"nan_steps_dropped": 3, "empty_sequences": 1}
    assert ds.ids == ["nan:0", "nan:1"]
    assert ds.labels == ["a", "b"]


def test_nan_policy_zero_counts_values(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="padless.data"):
        ds = read_ts(ts_file(tmp_path, NAN_BODY, "nan.ts"), nan_policy="zero")
    assert ds.skipped == {"nan_values_zeroed": 3}
    np.testing.assert_array_equal(ds.sequences[0], [[1, 4], [0, 5], [3, 6]])
    np.testing.assert_array_equal(ds.sequences[2], [[0, 1], [0, 2]])
    assert "nan_values_zeroed" in caplog.text


def test_inf_and_float32_overflow_are_not_finite(tmp_path):
    with pytest.raises(DataError, match="inf"):
        read_ts(ts_file(tmp_path, "1,inf:1,2:a\n", "inf.ts"))
    with pytest.raises(DataError, match="float32 range"):
        read_ts(ts_file(tmp_path, "1,1e39:1,2:a\n", "big.ts"))


def test_empty_case_raises_or_is_counted(tmp_path):
    header = "@univariate true\n@classLabel true a\n@data\n"
    path = ts_file(tmp_path, "1,2:a\n:a\n", "empty.ts", header)
    with pytest.raises(DataError) as exc:
        read_ts(path)
    assert "empty.ts line 5" in message(exc) and "'empty:1'" in message(exc)
    ds = read_ts(path, skip_empty=True)
    assert ds.skipped == {"empty_sequences": 1}
    assert ds.ids == ["empty:0"]
