"""Tests for padless.timeseries: .ts and long-table readers, NaN policies, Normalizer."""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from padless.data.dataset import SequenceDataset
from padless.data.long_table import read_long_table
from padless.data.ts import read_ts, read_ts_pair
from padless.encode.normalizer import Normalizer, fit_normalizer
from padless.errors import ArtifactError, DataError

SHARED_TS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ts"

HEADER_MULTI = """\
# A toy multivariate, unequal-length file
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b c
@data
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def ts_file(tmp_path: Path, body: str, name: str = "Toy_TRAIN.ts", header=HEADER_MULTI) -> Path:
    return write(tmp_path / name, header + body)


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


def _err(excinfo) -> str:
    return str(excinfo.value)


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
    msg = _err(exc)
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
    msg = _err(exc)
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


# ----------------------------------------------------------------------------- NaN policies
NAN_BODY = "1,?,3:4,5,6:a\n1,2:3,4:b\n?,?:1,2:c\n"


def test_missing_value_raises_by_default(tmp_path):
    path = ts_file(tmp_path, NAN_BODY, "nan.ts")
    with pytest.raises(DataError) as exc:
        read_ts(path)
    msg = _err(exc)
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
    msg = _err(exc)
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
    assert "empty.ts line 5" in _err(exc) and "'empty:1'" in _err(exc)
    ds = read_ts(path, skip_empty=True)
    assert ds.skipped == {"empty_sequences": 1}
    assert ds.ids == ["empty:0"]


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


# ----------------------------------------------------------------------------- long tables
LONG_CSV = """\
sid,t,x,y,note,label,split
s2,1,10,-1,hello,b,test
s1,2,2.5,20,x,a,train
s1,0,0.5,0,y,a,train
s2,0,9,-2,z,b,test
s1,1,1.5,10,w,a,train
"""


def _check_long(ds: SequenceDataset) -> None:
    assert ds.ids == ["s2", "s1"]
    assert ds.labels == ["b", "a"]
    assert ds.splits == ["test", "train"]
    assert ds.feature_names == ["x", "y"]
    np.testing.assert_array_equal(ds.sequences[0], [[9, -2], [10, -1]])
    np.testing.assert_array_equal(ds.sequences[1], [[0.5, 0], [1.5, 10], [2.5, 20]])
    assert all(s.dtype == np.float32 for s in ds.sequences)
    assert ds.skipped == {}


LONG_KW = dict(id_column="sid", label_column="label", step_column="t", split_column="split")


def test_long_csv_groups_orders_and_infers_features(tmp_path, caplog):
    path = write(tmp_path / "long.csv", LONG_CSV)
    with caplog.at_level(logging.WARNING, logger="padless.data"):
        ds = read_long_table(path, **LONG_KW)
    _check_long(ds)
    assert "note" in caplog.text  # the text column left out of the features is reported


def test_long_csv_without_steps_keeps_file_order(tmp_path):
    path = write(tmp_path / "long.csv", LONG_CSV)
    ds = read_long_table(path, id_column="sid", label_column="label", feature_columns=["x"])
    np.testing.assert_array_equal(ds.sequences[1][:, 0], [2.5, 0.5, 1.5])
    assert ds.splits == [None, None]
    assert ds.feature_names == ["x"]


def test_long_tsv_gz_and_unlabeled(tmp_path):
    tsv = LONG_CSV.replace(",", "\t")
    path = tmp_path / "long.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(tsv)
    _check_long(read_long_table(path, **LONG_KW))
    ds = read_long_table(
        path, id_column="sid", label_column=None, step_column="t", feature_columns=["x", "y"]
    )
    assert ds.labels == [None, None]


def test_long_parquet_matches_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "sid": ["s2", "s1", "s1", "s2", "s1"],
            "t": [1, 2, 0, 0, 1],
            "x": [10.0, 2.5, 0.5, 9.0, 1.5],
            "y": [-1, 20, 0, 2 * -1, 10],
            "note": ["hello", "x", "y", "z", "w"],
            "label": ["b", "a", "a", "b", "a"],
            "split": ["test", "train", "train", "test", "train"],
        }
    )
    path = tmp_path / "long.parquet"
    pq.write_table(table, path)
    _check_long(read_long_table(path, **LONG_KW))


def test_long_parquet_errors_name_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"sid": ["a", "a", "b"], "x": [1.0, None, 3.0], "label": ["p", "p", "q"]})
    path = tmp_path / "nulls.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="sid", label_column="label")
    msg = _err(exc)
    for needle in ["nulls.parquet", "sequence id 'a'", "row 2", "'x'", "time step 1", "drop_steps"]:
        assert needle in msg, msg
    ds = read_long_table(path, id_column="sid", label_column="label", nan_policy="drop_steps")
    assert ds.skipped == {"nan_steps_dropped": 1}
    assert ds.lengths().tolist() == [1, 1]


def test_parquet_missing_pyarrow_tells_how_to_install(tmp_path, monkeypatch):
    path = write(tmp_path / "x.parquet", "not really parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install padless\[parquet\]"):
        read_long_table(path, id_column="sid", label_column="label")


def test_long_string_steps_sort_as_text(tmp_path):
    text = "id,when,v,lab\na,2021-01-03,3,k\na,2021-01-01,1,k\na,2021-01-02,2,k\n"
    ds = read_long_table(
        write(tmp_path / "d.csv", text),
        **{"id_column": "id", "label_column": "lab", "step_column": "when"},
    )
    np.testing.assert_array_equal(ds.sequences[0][:, 0], [1, 2, 3])


@pytest.mark.parametrize(
    "text, kwargs, needles",
    [
        (
            "sid,t,x,label\na,0,1,p\na,1,oops,p\n",
            {},
            ["line 3", "column 'x'", "'oops'", "feature_columns"],
        ),
        (
            "sid,t,x,label\na,0,1,p\na,0,2,p\n",
            {},
            ["sequence id 'a'", "step 0", "line 2 and line 3", "duplicate"],
        ),
        (
            "sid,t,x,label\na,0,1,p\nb,0,1,q\na,1,2,r\n",
            {},
            ["sequence id 'a'", "'label'", "'p' on line 2", "'r' on line 4"],
        ),
        (
            "sid,t,x,label,split\na,0,1,p,train\na,1,2,p,test\n",
            {"split_column": "split"},
            ["sequence id 'a'", "'split'", "line 3"],
        ),
        (
            "sid,t,x,label,split\na,0,1,p,holdout\n",
            {"split_column": "split"},
            ["line 2", "'holdout'", "valid"],
        ),
        ("sid,t,x,label\na,0,1,p\na,1,2\n", {}, ["line 3", "4 fields", "3 fields"]),
        ("sid,t,x,label\na,0,1,\n", {}, ["line 2", "'label'", "label_column=None"]),
        ("sid,t,x,label\na,0,1,p\na,one,2,p\n", {}, ["line 3", "'t'", "'one'"]),
        ("sid,t,x,label\na,0,1,p\n,1,2,p\n", {}, ["line 3", "'sid'"]),
        (
            "sid,t,x,label\na,0,1,p\na,1,,p\n",
            {},
            ["sequence id 'a'", "line 3", "step 1", "'x'", "drop_steps"],
        ),
        ("sid,t,label\na,0,p\n", {}, ["numeric feature column", "feature_columns"]),
        ("sid,t,x,label\n", {}, ["at least one data row"]),
        ("sid,t,x,x,label\na,0,1,2,p\n", {}, ["unique column names", "Fix:"]),
    ],
)
def test_long_errors(tmp_path, text, kwargs, needles):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="sid", label_column="label", step_column="t", **kwargs)
    msg = _err(exc)
    assert "bad.csv" in msg
    for needle in needles:
        assert needle in msg, msg


def test_long_missing_columns_lists_available(tmp_path):
    path = write(tmp_path / "cols.csv", "sid,t,x,label\na,0,1,p\n")
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="ID", label_column="label", feature_columns=["x", "z"])
    msg = _err(exc)
    for needle in ["cols.csv", "'ID'", "'z'", "['sid', 't', 'x', 'label']", "Fix:"]:
        assert needle in msg, msg


def test_long_format_errors(tmp_path):
    path = write(tmp_path / "data.json", "{}")
    with pytest.raises(DataError, match="format="):
        read_long_table(path, id_column="a", label_column="b")
    # explicit format overrides the suffix
    path = write(tmp_path / "data.txt", "sid,x,label\na,1,p\n")
    ds = read_long_table(path, id_column="sid", label_column="label", format="csv")
    assert ds.sequences[0].tolist() == [[1.0]]


def test_long_nan_policies_and_empty(tmp_path):
    text = "sid,t,x,y,label\na,0,1,2,p\na,1,NA,3,p\nb,0,,?,q\nc,0,5,6,q\n"
    path = write(tmp_path / "gaps.csv", text)
    kw = dict(id_column="sid", label_column="label", step_column="t")
    zero = read_long_table(path, nan_policy="zero", **kw)
    assert zero.skipped == {"nan_values_zeroed": 3}
    np.testing.assert_array_equal(zero.sequences[0], [[1, 2], [0, 3]])
    with pytest.raises(DataError) as exc:
        read_long_table(path, nan_policy="drop_steps", **kw)
    assert "gaps.csv" in _err(exc) and "sequence id 'b'" in _err(exc)
    assert "skip_empty=True" in _err(exc)
    drop = read_long_table(path, nan_policy="drop_steps", skip_empty=True, **kw)
    assert drop.skipped == {"nan_steps_dropped": 2, "empty_sequences": 1}
    assert drop.ids == ["a", "c"]
    np.testing.assert_array_equal(drop.sequences[0], [[1, 2]])


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
    assert "'train'" in _err(exc) and "{'test': 1}" in _err(exc) and "Fix:" in _err(exc)
    norm = fit_normalizer(ds)
    with pytest.raises(DataError, match=r"shape \(T, 2\)"):
        norm.transform([np.zeros((3, 3), np.float32)])
    with pytest.raises(DataError, match="finite"):
        Normalizer.fit([np.array([[np.nan, 1.0]])])
    with pytest.raises(DataError, match="at least one sequence"):
        Normalizer.fit([])


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
