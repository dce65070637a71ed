"""Tests for padless.data.text_table: text-classification tables in every format the shared
reader takes, multi-label cells, and errors naming the file, line and column."""

import gzip
import json
import logging

import pytest

from padless.config import load_config
from padless.data.sources import load_data
from padless.data.text_table import read_text_table
from padless.encode.labels import LabelSpace
from padless.errors import DataError


def test_csv_tsv_jsonl_read_the_same(tmp_path):
    (tmp_path / "d.csv").write_text('text,label,split\n"hello, world",pos,train\nbad,neg,test\n')
    (tmp_path / "d.tsv").write_text(
        "text\tlabel\tsplit\nhello, world\tpos\ttrain\nbad\tneg\ttest\n"
    )
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "hello, world", "label": "pos", "split": "train"}) + "\n\n")
        f.write(json.dumps({"text": "bad", "label": "neg", "split": "test"}) + "\n")
    for name in ("d.csv", "d.tsv", "d.jsonl.gz"):
        ds = read_text_table(tmp_path / name)
        assert ds.texts == ["hello, world", "bad"]
        assert ds.labels == ["pos", "neg"]
        assert ds.splits == ["train", "test"]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"review": ["a b", "c"], "y": [1, 0], "tags": [["x", "y"], ["y"]]})
    pq.write_table(table, tmp_path / "d.parquet")
    ds = read_text_table(tmp_path / "d.parquet", text_column="review", label_column="y")
    assert ds.labels == ["1", "0"] and ds.splits == [None, None]
    ml = read_text_table(
        tmp_path / "d.parquet", text_column="review", label_column="tags", multilabel=True
    )
    assert ml.labels == [["x", "y"], ["y"]]


def test_multilabel_delimiter(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\na,x|y\nb,y\n")
    ds = read_text_table(tmp_path / "d.csv", multilabel=True, label_delimiter="|")
    assert ds.labels == [["x", "y"], ["y"]]
    space = LabelSpace.from_labels(ds.labels)
    assert space.task == "multilabel" and space.encode(["y"]) == [0.0, 1.0]
    with pytest.raises(DataError, match="label_delimiter"):
        read_text_table(tmp_path / "d.csv", multilabel=True)


def test_missing_column_names_file_and_columns(tmp_path):
    (tmp_path / "d.csv").write_text("body,label\na,x\n")
    with pytest.raises(DataError) as err:
        read_text_table(tmp_path / "d.csv")
    msg = str(err.value)
    assert "d.csv" in msg and "'text'" in msg and "body" in msg and "text_column" in msg


def test_missing_file():
    with pytest.raises(DataError, match="no such file"):
        read_text_table("nope.csv")


def test_empty_text_raises_or_is_counted(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\na,x\n"  ",y\nb,y\n')
    with pytest.raises(DataError, match="line 3.*empty"):
        read_text_table(tmp_path / "d.csv")
    ds = read_text_table(tmp_path / "d.csv", skip_empty=True)
    assert len(ds) == 2 and ds.skipped == {"empty_text": 1}


def test_invalid_utf8_names_the_line(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"text,label\nok,x\nbad \xff byte,y\n")
    with pytest.raises(DataError, match="line 3.*UTF-8"):
        read_text_table(tmp_path / "d.csv")


def test_ragged_csv_row(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\na,x,extra\n")
    with pytest.raises(DataError, match="line 2.*2 fields"):
        read_text_table(tmp_path / "d.csv")


def test_bad_jsonl_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(DataError, match="line 2"):
        read_text_table(tmp_path / "d.jsonl")


def stray_quote_csv(path, rows=20_000, bad=10_000):
    """``rows`` quoted reviews; review ``bad`` (at line bad + 2) opens a quote it never closes,
    so Python's csv module lets it swallow the next row and take its label."""
    lines = [f'"review {i}",{"pos" if i % 2 else "neg"}' for i in range(rows)]
    lines[bad] = f'"review {bad},neg'
    path.write_text("text,label\n" + "\n".join(lines) + "\n")
    return path


def test_a_stray_quote_raises_or_is_skipped_counted_and_logged(tmp_path, caplog):
    path = stray_quote_csv(tmp_path / "d.csv")
    with pytest.raises(DataError, match=r"d\.csv line 10002: expected .*quote.*skip_bad_rows"):
        read_text_table(path)
    with caplog.at_level(logging.WARNING, logger="padless.data.text_table"):
        ds = read_text_table(path, skip_bad_rows=True)
    assert len(ds) == 19_999 and ds.skipped == {"bad_rows": 1}
    assert (ds.texts[10_000], ds.labels[10_000]) == ("review 10001", "pos")  # kept, own label
    assert "1 malformed row skipped: line 10002" in caplog.text


def test_skip_bad_rows_is_a_config_key_and_applies_to_jsonl(tmp_path):
    path = stray_quote_csv(tmp_path / "d.csv", rows=50, bad=20)
    cfg = load_config(None, ["data.source=table", f"data.path={path}", "data.skip_bad_rows=true"])
    ds = load_data(cfg.data)
    assert len(ds) == 49 and ds.skipped == {"bad_rows": 1}
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x"}\n{oops\n"b"\n')
    ds = read_text_table(tmp_path / "d.jsonl", skip_bad_rows=True)
    assert ds.texts == ["a"] and ds.skipped == {"bad_rows": 2}


def test_multiline_reviews_are_read(tmp_path):
    text = 'text,label\n"Fine, I guess.\nThe plot, though:\n\nno.",neg\nok,pos\n'
    (tmp_path / "d.csv").write_text(text)
    ds = read_text_table(tmp_path / "d.csv")
    assert ds.texts == ["Fine, I guess.\nThe plot, though:\n\nno.", "ok"]
    assert ds.labels == ["neg", "pos"]
