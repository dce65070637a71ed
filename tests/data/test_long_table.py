"""Tests for padless.data.long_table: one row per time step, grouped by id and ordered by step,
from CSV / TSV (gzip) / Parquet, with errors naming the line or row and column."""

from __future__ import annotations

import gzip
import json
import logging
import sys

import numpy as np
import pytest

from padless.config import load_config
from padless.data.dataset import SequenceDataset
from padless.data.long_table import read_long_table
from padless.data.sources import load_data
from padless.errors import DataError
from tests.data.files import message, write

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
    msg = message(exc)
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
    msg = message(exc)
    assert "bad.csv" in msg
    for needle in needles:
        assert needle in msg, msg


def test_long_missing_columns_lists_available(tmp_path):
    path = write(tmp_path / "cols.csv", "sid,t,x,label\na,0,1,p\n")
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="ID", label_column="label", feature_columns=["x", "z"])
    msg = message(exc)
    for needle in ["cols.csv", "'ID'", "'z'", "['sid', 't', 'x', 'label']", "Fix:"]:
        assert needle in msg, msg


def test_long_format_errors(tmp_path):
    # (.json was refused here before long tables read through padless.data.tables: it is JSONL)
    path = write(tmp_path / "data.xlsx", "{}")
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
    assert "gaps.csv" in message(exc) and "sequence id 'b'" in message(exc)
    assert "skip_empty=True" in message(exc)
    drop = read_long_table(path, nan_policy="drop_steps", skip_empty=True, **kw)
    assert drop.skipped == {"nan_steps_dropped": 2, "empty_sequences": 1}
    assert drop.ids == ["a", "c"]
    np.testing.assert_array_equal(drop.sequences[0], [[1, 2]])


def test_long_jsonl_matches_csv(tmp_path):
    """JSONL comes through the shared table reader: typed values, errors cite the line."""
    rows = [
        dict(zip(LONG_CSV.splitlines()[0].split(","), line.split(","), strict=True))
        for line in LONG_CSV.splitlines()[1:]
    ]
    for row in rows:
        row["x"], row["y"] = float(row["x"]), int(row["y"])
    path = write(tmp_path / "long.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    _check_long(read_long_table(path, **LONG_KW))
    rows[2]["x"] = "oops"
    path = write(tmp_path / "bad.json", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as exc:
        read_long_table(path, **LONG_KW)
    for needle in ["bad.json line 3", "column 'x'", "'oops'"]:
        assert needle in message(exc), message(exc)


def test_long_reader_errors_name_the_line(tmp_path):
    """Encoding, gzip and empty-file problems come from the shared reader, naming the file."""
    path = tmp_path / "latin.csv"
    path.write_bytes(b"sid,x,label\na,1,p\nb,2,caf\xe9\n")
    with pytest.raises(DataError, match="latin.csv line 3.*UTF-8"):
        read_long_table(path, id_column="sid", label_column="label")
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress(LONG_CSV.encode())[:30])
    with pytest.raises(DataError, match="cut.csv.gz.*gzip"):
        read_long_table(cut, **LONG_KW)
    with pytest.raises(DataError, match="header"):
        read_long_table(write(tmp_path / "empty.csv", ""), **LONG_KW)


# Line 4 opens a quote it never closes: Python's csv module reads it together with line 5 as
# one row, id 'a,1,2,p\nb"', which takes line 5's step, x and label (q).
STRAY_QUOTE_LONG = """\
sid,t,x,label
a,0,1,p
b,0,4,q
"a,1,2,p
"b",1,5,q
b,2,6,q
"""


def test_long_stray_quote_raises_or_is_skipped_counted_and_logged(tmp_path, caplog):
    path = write(tmp_path / "bad.csv", STRAY_QUOTE_LONG)
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="sid", label_column="label", step_column="t")
    msg = message(exc)
    assert f"{path} line 4" in msg and "quote" in msg and "skip_bad_rows" in msg, msg
    with caplog.at_level(logging.WARNING, logger="padless.data.long_table"):
        ds = read_long_table(
            path, id_column="sid", label_column="label", step_column="t", skip_bad_rows=True
        )
    assert ds.ids == ["a", "b"] and ds.labels == ["p", "q"]  # no merged sequence
    np.testing.assert_array_equal(ds.sequences[0], [[1]])  # a's bad step 1 skipped
    np.testing.assert_array_equal(ds.sequences[1], [[4], [5], [6]])  # line 5 kept, own label
    assert ds.skipped == {"bad_rows": 1}
    assert "1 malformed row skipped: line 4" in caplog.text


def test_long_skip_bad_rows_and_check_multiline_are_config_keys(tmp_path):
    path = write(tmp_path / "bad.csv", STRAY_QUOTE_LONG)
    keys = [
        "data.source=long_table",
        f"data.path={path}",
        "data.id_column=sid",
        "data.step_column=t",
        "data.split_column=none",
    ]
    with pytest.raises(DataError, match="line 4"):
        load_data(load_config(None, keys).data)
    ds = load_data(load_config(None, [*keys, "data.skip_bad_rows=true"]).data)
    assert ds.ids == ["a", "b"] and ds.lengths().tolist() == [1, 3]
    assert ds.skipped == {"bad_rows": 1}
    # An id spanning lines whose inner line reads as a row: refused unless check_multiline = false
    path = write(tmp_path / "multi.csv", 'sid,t,x,label\na,0,1,p\n"b\nb,1,2,p\nc",0,3,q\n')
    keys[1] = f"data.path={path}"
    with pytest.raises(DataError, match="line 3.*check_multiline"):
        load_data(load_config(None, keys).data)
    ds = load_data(load_config(None, [*keys, "data.check_multiline=false"]).data)
    assert ds.ids == ["a", "b\nb,1,2,p\nc"] and ds.labels == ["p", "q"]


# ----------------------------------------------------------------------------- every task
TASK_CSV = """\
sid,t,x,state,y1,y2,tags,split
s2,1,10,up,0.25,-3,b,test
s1,2,2.5,down,1e-3,2,a|b,
s1,0,0.5,up,1e-3,2,a|b,
s2,0,9,down,0.25,-3,b,test
s1,1,1.5,up,1e-3,2,a|b,
"""


def _task_table(tmp_path, fmt):
    """TASK_CSV as ``fmt`` (CSV, or Parquet with typed numbers)."""
    path = write(tmp_path / "tasks.csv", TASK_CSV)
    if fmt == "csv":
        return path
    pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = tmp_path / "tasks.parquet"
    pq.write_table(pacsv.read_csv(path), out)
    return out


TASK_KW = dict(id_column="sid", step_column="t", feature_columns=["x"], split_column="split")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_table_every_task(tmp_path, fmt):
    path = _task_table(tmp_path, fmt)
    tag = read_long_table(path, label_column="state", task="tagging", **TASK_KW)
    assert tag.ids == ["s2", "s1"] and tag.splits == ["test", None]
    assert tag.labels == [["down", "up"], ["up", "up", "down"]]  # in step order
    reg = read_long_table(path, label_column="y1", task="regression", **TASK_KW)
    assert reg.labels == [0.25, 0.001]
    two = read_long_table(path, label_column=None, label_columns=["y1", "y2"], **TASK_KW)
    assert two.labels == [{"y1": 0.25, "y2": -3.0}, {"y1": 0.001, "y2": 2.0}]
    ml = read_long_table(path, label_column="tags", multilabel=True, label_delimiter="|", **TASK_KW)
    assert ml.labels == [["b"], ["a", "b"]]
    auto = read_long_table(path, label_column="y1", **TASK_KW)  # auto: text, classes decide
    assert all(isinstance(x, str) for x in auto.labels)
    assert [float(x) for x in auto.labels] == [0.25, 0.001]
    from padless.encode.labels import LabelSpace

    assert LabelSpace.from_labels(auto.labels).task == "regression"
    assert LabelSpace.from_labels(tag.labels, task="tagging").classes == ("down", "up")


def test_long_table_per_step_tags_follow_dropped_steps(tmp_path):
    path = write(tmp_path / "d.csv", "sid,t,x,state\na,0,1,p\na,1,,q\na,2,3,r\nb,0,1,p\n")
    ds = read_long_table(
        path,
        id_column="sid",
        label_column="state",
        step_column="t",
        task="tagging",
        nan_policy="drop_steps",
    )
    assert ds.labels == [["p", "r"], ["p"]] and ds.skipped == {"nan_steps_dropped": 1}
    assert [len(s) for s in ds.sequences] == [2, 1]


@pytest.mark.parametrize(
    "text, kwargs, needles",
    [
        (
            "sid,t,x,y\na,0,1,0.5\na,1,2,oops\n",
            {"task": "regression"},
            ["line 3", "column 'y'", "'oops'", "finite number"],
        ),
        (
            "sid,t,x,y\na,0,1,0.5\na,1,2,0.75\n",
            {"task": "regression"},
            ["sequence id 'a'", "one value per sequence", "0.5 on line 2", "0.75 on line 3"],
        ),
        (
            "sid,t,x,y\na,0,1,p\na,1,2,\n",
            {"task": "tagging"},
            ["line 3", "column 'y'", "a tag", "empty"],
        ),
        (
            "sid,t,x,y\na,0,1,p\n",
            {"task": "tagging", "multilabel": True},
            ["data.multilabel = true only"],
        ),
    ],
)
def test_long_table_label_errors(tmp_path, text, kwargs, needles):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as exc:
        read_long_table(path, id_column="sid", label_column="y", step_column="t", **kwargs)
    msg = message(exc)
    assert "bad.csv" in msg and "Fix:" in msg
    for needle in needles:
        assert needle in msg, msg


def test_long_table_default_split_column_may_be_absent_and_config_keys_apply(tmp_path):
    path = write(tmp_path / "d.csv", "sid,t,x,y1,y2\na,0,1,0.5,2\na,1,2,0.5,2\nb,0,3,1,-1\n")
    sets = ["data.source=long_table", f"data.path={path}", "data.id_column=sid"]
    sets += ["data.step_column=t", 'data.label_columns=["y2", "y1"]']
    ds = load_data(load_config(None, sets).data)  # data.split_column is "split": absent
    assert ds.labels == [{"y2": 2.0, "y1": 0.5}, {"y2": -1.0, "y1": 1.0}]
    assert ds.splits == [None, None] and ds.feature_names == ["x"]
