"""Tests for padless.data.ts: the UEA/UCR .ts parser, its line-level errors, the aeon engine,
TRAIN / TEST pairs and the shared UEA data sets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from padless.data.dataset import SequenceDataset
from padless.data.ts import read_ts, read_ts_pair
from padless.errors import DataError
from tests.data.files import message, ts_file, write

SHARED_TS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ts"


# ----------------------------------------------------------------------------- .ts parsing
def test_multivariate_unequal_values_shapes_labels(tmp_path):
    path = ts_file(tmp_path, "1,2,3:4,5,6:a\n0.5,-1.5:2e1,7:b\n\n# a comment\n9:8:c\n")
    ds = read_ts(path)
    assert isinstance(ds, SequenceDataset)
    assert len(ds) == 3
    assert [s.shape for s in ds.sequences] == [(3, 2), (2, 2), (1, 2)]
    assert all(s.dtype == np.float32 for s in ds.sequences)
    np.testing.assert_array_equal(ds.sequences[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(ds.sequences[1], [[0.5, 20], [-1.5, 7]])
    np.testing.assert_array_equal(ds.sequences[2], [[9, 8]])
    assert ds.labels == ["a", "b", "c"]
    assert ds.ids == ["Toy_TRAIN:0", "Toy_TRAIN:1", "Toy_TRAIN:2"]
    assert ds.feature_names == ["dim_0", "dim_1"]
    assert ds.splits == ["train"] * 3
    assert ds.source == str(path)
    assert ds.skipped == {}
    assert ds.lengths().tolist() == [3, 2, 1]


def test_univariate_equal_length_and_split_inference(tmp_path):
    header = (
        "\ufeff@problemName Uni\n@univariate true\n@equalLength true\n@seriesLength 3\n"
        "@classLabel true 0 1\n@data\n"
    )
    body = "1,2,3:0\n4,5,6:1\n"
    test = read_ts(ts_file(tmp_path, body, "Uni_TEST.ts", header))
    assert test.splits == ["test", "test"]
    assert test.feature_names == ["dim_0"]
    np.testing.assert_array_equal(test.sequences[1], [[4], [5], [6]])
    plain = read_ts(ts_file(tmp_path, body, "uni.ts", header))
    assert plain.splits == [None, None]
    forced = read_ts(ts_file(tmp_path, body, "uni2.ts", header), split="valid")
    assert forced.splits == ["valid", "valid"]


def test_class_label_false_gives_no_labels(tmp_path):
    header = "@univariate true\n@classLabel false\n@data\n"
    ds = read_ts(ts_file(tmp_path, "1,2\n3\n", "nolab.ts", header))
    assert ds.labels == [None, None]
    assert [s.shape for s in ds.sequences] == [(2, 1), (1, 1)]


@pytest.mark.parametrize(
    "body, needles",
    [
        ("1,2:3,4:a\n1,2:3,4:zz\n", ["line 11", "'zz'", "@classLabel"]),
        ("1,2:3,4:a\n1,2,3:3,4:b\n", ["line 11", "lengths [3, 2]", "Fix:"]),
        ("1,2:3,4:a\n1,2:a\n", ["line 11", "2 dimensions", "1 dimensions"]),
        ("1,2:3,x:a\n", ["line 10", "dimension 1, value 2", "'x'", "Fix:"]),
        ("1,2:3,4,:a\n", ["line 10", "dimension 1, value 3"]),
        ("1,2,3,4\n", ["line 10", "':<label>'", "Fix:"]),
    ],
)
def test_ts_line_errors(tmp_path, body, needles):
    path = ts_file(tmp_path, body, "bad.ts")
    with pytest.raises(DataError) as exc:
        read_ts(path)
    msg = message(exc)
    assert "bad.ts" in msg
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize(
    "text, needles",
    [
        ("@problemName x\n@classLabel true a\n1,2:a\n", ["line 3", "@data"]),
        ("@problemName x\n@classLabel true a\n", ["'@data'"]),
        ("@classLabel true a\n@data\n", ["at least one case"]),
        ("@timeStamps true\n@classLabel true a\n@data\n(1,2):a\n", ["time stamps", "long table"]),
        ("@univariate maybe\n@data\n1:a\n", ["line 1", "true or false"]),
        ("@classLabel true\n@data\n1:a\n", ["line 1", "class labels"]),
        ("@univariate true\n@dimensions 3\n@data\n1:a\n", ["@dimensions 3"]),
        (
            "@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2,3:a\n1,2:a\n",
            ["line 6", "@seriesLength"],
        ),
    ],
)
def test_ts_header_errors(tmp_path, text, needles):
    path = write(tmp_path / "hdr.ts", text)
    with pytest.raises(DataError) as exc:
        read_ts(path)
    msg = message(exc)
    assert "hdr.ts" in msg
    for needle in needles:
        assert needle in msg, msg


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="nope.ts"):
        read_ts(tmp_path / "nope.ts")
    path = ts_file(tmp_path, "1:2:a\n")
    with pytest.raises(ValueError, match="engine"):
        read_ts(path, engine="fast")
    with pytest.raises(ValueError, match="nan_policy"):
        read_ts(path, nan_policy="ignore")
    with pytest.raises(DataError, match="split"):
        read_ts(path, split="holdout")


# ----------------------------------------------------------------------------- aeon engine
def test_aeon_engine_matches_padless_on_small_file(tmp_path):
    pytest.importorskip("aeon")
    path = ts_file(tmp_path, "1,2,3:4,5,6:a\n0.5,-1.5:2e1,7:b\n9:8:c\n")
    a, b = read_ts(path), read_ts(path, engine="aeon")
    assert a.labels == b.labels and a.ids == b.ids and a.splits == b.splits
    for x, y in zip(a.sequences, b.sequences, strict=True):
        assert x.dtype == y.dtype == np.float32
        np.testing.assert_array_equal(x, y)


def test_aeon_missing_tells_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(ImportError, match=r"pip install padless\[timeseries\]"):
        read_ts(ts_file(tmp_path, "1:2:a\n"), engine="aeon")


# ----------------------------------------------------------------------------- pairs
def test_read_ts_pair_directory_and_prefix(tmp_path):
    d = tmp_path / "Toy"
    d.mkdir()
    ts_file(d, "1,2:3,4:a\n", "Toy_TRAIN.ts")
    ts_file(d, "5:6:b\n7:8:c\n", "Toy_TEST.ts")
    for arg in (d, str(d / "Toy")):
        ds = read_ts_pair(arg)
        assert ds.splits == ["train", "test", "test"]
        assert ds.ids == ["Toy_TRAIN:0", "Toy_TEST:0", "Toy_TEST:1"]
        assert ds.labels == ["a", "b", "c"]
        assert ds.num_features == 2
    (d / "Toy_TEST.ts").unlink()
    with pytest.raises(DataError, match="Toy_TEST.ts"):
        read_ts_pair(d)


# ----------------------------------------------------------------------------- shared data
def _shared(name: str) -> Path:
    path = SHARED_TS / name
    if not path.is_dir():
        pytest.skip(f"shared data set {path} not present")
    return path


def test_japanese_vowels_counts():
    ds = read_ts_pair(_shared("JapaneseVowels"))
    train, test = ds.split("train"), ds.split("test")
    assert (len(train), len(test)) == (270, 370)
    assert ds.num_features == 12
    lengths = train.lengths()
    assert (lengths.min(), lengths.max()) == (7, 26)
    assert sorted(set(ds.labels)) == [str(i) for i in range(1, 10)]
    assert all(train.labels.count(str(i)) == 30 for i in range(1, 10))
    assert ds.skipped == {}


def test_plaid_counts():
    ds = read_ts_pair(_shared("PLAID"))
    train, test = ds.split("train"), ds.split("test")
    assert (len(train), len(test)) == (537, 537)
    assert ds.num_features == 1
    lengths = train.lengths()
    assert (lengths.min(), lengths.max()) == (100, 1344)
    assert sorted(set(ds.labels), key=int) == [str(i) for i in range(11)]


@pytest.mark.parametrize("name", ["JapaneseVowels", "PLAID"])
def test_cross_check_with_aeon(name):
    directory = _shared(name)
    pytest.importorskip("aeon")
    path = directory / f"{name}_TRAIN.ts"
    ours, theirs = read_ts(path), read_ts(path, engine="aeon")
    assert ours.labels == theirs.labels
    assert ours.ids == theirs.ids
    assert len(ours) == len(theirs)
    for a, b in zip(ours.sequences, theirs.sequences, strict=True):
        assert a.dtype == b.dtype == np.float32
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
