"""Tests for padless.data.text_table: text-classification tables in every format the shared
reader takes, multi-label cells, and errors naming the file, line and column."""

import gzip
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --------------------------------------------------------------------------- every task, format
def write_table(path, columns, rows):
    """``rows`` (lists, one cell per column) written as ``path``'s format: CSV / TSV cells are
    the text of each cell (lists joined by the case), JSONL / Parquet keep the typed values."""
    if path.suffix in (".csv", ".tsv"):
        sep = "," if path.suffix == ".csv" else "\t"
        lines = [sep.join(columns)] + [sep.join(str(c) for c in row) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    elif path.suffix == ".jsonl":
        path.write_text(
            "".join(json.dumps(dict(zip(columns, r, strict=True))) + "\n" for r in rows)
        )
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({c: [r[j] for r in rows] for j, c in enumerate(columns)}), path)
    return path


FORMATS = ["csv", "tsv", "jsonl", "parquet"]

# task -> (reader kwargs, [(text, typed label, CSV/TSV cell)], labels read, LabelSpace task)
TASK_CASES = {
    "binary": ({}, [("a b", "pos", "pos"), ("c", "neg", "neg")], ["pos", "neg"], "binary"),
    "binary ids": ({}, [("a b", 1, "1"), ("c", 0, "0")], ["1", "0"], "binary"),
    "multiclass": (
        {},
        [("a", "x", "x"), ("b", "y", "y"), ("c", "z", "z")],
        ["x", "y", "z"],
        "multiclass",
    ),
    "multilabel": (
        {"multilabel": True, "label_delimiter": "|"},
        [("a", ["y", "x"], "y|x"), ("b", [], ""), ("c", ["y"], "y")],
        [["x", "y"], [], ["y"]],
        "multilabel",
    ),
    "regression": (
        {"task": "regression"},
        [("a", 0.676, "0.676"), ("b", -2.0, "-2"), ("c", 0.001, "1e-3")],
        [0.676, -2.0, 0.001],
        "regression",
    ),
    "tagging": (
        {"task": "tagging"},
        [("the dog runs", ["D", "N", "V"], "D N V"), ("a cat", ["D", "N"], "D N")],
        [["D", "N", "V"], ["D", "N"]],
        "tagging",
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", TASK_CASES)
def test_every_task_reads_alike_from_every_format(tmp_path, case, fmt):
    kwargs, rows, want, task = TASK_CASES[case]
    typed = fmt in ("jsonl", "parquet")
    cells = [[text, label if typed else cell, "train"] for text, label, cell in rows]
    path = write_table(tmp_path / f"d.{fmt}", ["text", "label", "split"], cells)
    ds = read_text_table(path, **kwargs)
    assert ds.texts == [r[0] for r in rows] and ds.labels == want
    assert ds.splits == ["train"] * len(rows)
    assert all(type(x) is type(y) for x, y in zip(ds.labels, want, strict=True))
    space = LabelSpace.from_labels(ds.labels, task=kwargs.get("task", "auto"))
    assert space.task == task


@pytest.mark.parametrize("fmt", FORMATS)
def test_several_regression_targets_from_every_format(tmp_path, fmt):
    rows = [["a", 0.5, -1.0], ["b", 1e-3, 2.0]]
    if fmt in ("csv", "tsv"):
        rows = [["a", "0.5", "-1"], ["b", "1e-3", "2"]]
    path = write_table(tmp_path / f"d.{fmt}", ["text", "y1", "y2"], rows)
    ds = read_text_table(path, label_columns=["y2", "y1"], task="regression")
    assert ds.labels == [{"y2": -1.0, "y1": 0.5}, {"y2": 2.0, "y1": 0.001}]
    space = LabelSpace.from_labels(ds.labels)  # auto: targets by name
    assert space.task == "regression" and space.classes == ("y2", "y1")
    assert space.num_outputs == 2 and space.encode(ds.labels[1]) == [2.0, 0.001]


def test_auto_reads_number_text_and_infers_regression_only_for_non_integers(tmp_path):
    path = write_table(tmp_path / "d.csv", ["text", "label"], [["a", "0.676"], ["b", "-2"]])
    ds = read_text_table(path)  # task auto: labels stay text, the label space decides
    assert ds.labels == ["0.676", "-2"]
    space = LabelSpace.from_labels(ds.labels)
    assert space == LabelSpace("regression", ("target",))
    assert space.encode("0.676") == pytest.approx(0.676)
    ints = write_table(tmp_path / "i.csv", ["text", "label"], [["a", "0"], ["b", "1"]])
    assert LabelSpace.from_labels(read_text_table(ints).labels).task == "binary"


@pytest.mark.parametrize(
    "cell, kwargs, needles",
    [
        ("abc", {"task": "regression"}, ["line 3", "column 'label'", "'abc'", "finite number"]),
        ("nan", {"task": "regression"}, ["line 3", "'nan'", 'data.task = "auto"']),
        ("", {"task": "regression"}, ["line 3", "an empty value"]),
        ("", {}, ["line 3", "column 'label'", "a label", "empty"]),
        ("", {"task": "tagging"}, ["line 3", "one tag per token", "no tags"]),
        ("x", {"multilabel": True}, ["line 3", "label_delimiter", "JSON list"]),
        ("[oops", {"multilabel": True}, ["line 3", "a JSON list", "'[oops'"]),
    ],
)
def test_label_errors_name_file_line_and_column(tmp_path, cell, kwargs, needles):
    first = {"regression": "1", "tagging": "T"}.get(kwargs.get("task", ""), "x")
    path = tmp_path / "d.csv"
    path.write_text(f"text,label\na,{'' if kwargs.get('multilabel') else first}\nb,{cell}\n")
    with pytest.raises(DataError) as err:
        read_text_table(path, **kwargs)
    msg = str(err.value)
    assert "d.csv" in msg and "Fix:" in msg
    for needle in needles:
        assert needle in msg, msg
    if kwargs.get("task") == "tagging":
        assert "multilabel" not in msg


def test_a_list_without_a_task_names_both_list_readings_and_tagging_never_multilabel(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a b", "label": ["x", "y"]}\n')
    with pytest.raises(DataError) as err:
        read_text_table(path)
    assert "data.multilabel = true" in str(err.value) and "tagging" in str(err.value)
    assert read_text_table(path, task="tagging").labels == [["x", "y"]]
    path.write_text('{"text": "a b", "label": "x"}\n{"text": "c", "label": null}\n')
    with pytest.raises(DataError) as err:
        LabelSpace.from_labels(read_text_table(path, task="tagging").labels, task="tagging")
    assert "line 2" in str(err.value) and "multilabel" not in str(err.value)


def test_multilabel_empty_cells_json_lists_and_null(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\na,\nb,[]\nc,"[""x"", ""y""]"\nd,y|x\n')
    ds = read_text_table(path, multilabel=True, label_delimiter="|")
    assert ds.labels == [[], [], ["x", "y"], ["x", "y"]]
    space = LabelSpace.from_labels(ds.labels)
    assert space.classes == ("x", "y") and space.encode([]) == [0.0, 0.0]
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": []}\n{"text": "b", "label": null}\n')
    with pytest.raises(DataError, match="line 2.*null"):
        read_text_table(tmp_path / "d.jsonl", multilabel=True)


def test_tagging_cells_split_on_the_delimiter_or_hold_a_json_list(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('text\ttags\nthe dog\tD|N\na cat\t["D", "N"]\n')
    ds = read_text_table(path, label_column="tags", task="tagging", label_delimiter="|")
    assert ds.labels == [["D", "N"], ["D", "N"]]


def test_task_and_column_options_that_do_not_go_together(tmp_path):
    path = write_table(tmp_path / "d.csv", ["text", "y1", "y2"], [["a", "1", "2"]])
    with pytest.raises(DataError, match="several label columns"):
        read_text_table(path, label_columns=["y1", "y2"], task="multiclass")
    with pytest.raises(DataError, match="data.multilabel = true only"):
        read_text_table(path, label_column="y1", multilabel=True, task="tagging")
    with pytest.raises(DataError, match="'y3'"):
        read_text_table(path, label_columns=["y1", "y3"], task="regression")


def test_split_names_and_aliases_are_checked_per_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label,split\na,x,Validation\nb,y,\nc,x,dev\nd,y,TEST\n")
    assert read_text_table(path).splits == ["valid", None, "valid", "test"]
    path.write_text("text,label,split\na,x,train\nb,y,holdout\n")
    with pytest.raises(DataError, match="line 3, column 'split'.*'holdout'"):
        read_text_table(path)


def test_rows_converted_in_chunks_equal_the_whole_file_and_count_skips(tmp_path):
    from padless.data.tables import iter_table
    from padless.data.text_table import TextTableRows

    path = tmp_path / "d.csv"
    path.write_text("text,y,split\na,0.5,train\n ,1,\nb,1e-3,test\n  ,2,\nc,-1,\n")
    whole = read_text_table(path, label_column="y", task="regression", skip_empty=True)
    columns, chunks = iter_table(path, chunk_rows=2)
    rows_of = TextTableRows(path, columns, label_column="y", task="regression", skip_empty=True)
    parts = [rows_of.convert(chunk) for chunk in chunks]
    assert sum((p.texts for p in parts), []) == whole.texts == ["a", "b", "c"]
    assert sum((p.labels for p in parts), []) == whole.labels == [0.5, 0.001, -1.0]
    assert sum((p.splits for p in parts), []) == whole.splits == ["train", "test", None]
    assert [p.skipped for p in parts] == [{"empty_text": 1}, {"empty_text": 1}, {}]
    assert rows_of.skipped["empty_text"] == 2 and whole.skipped == {"empty_text": 2}
    with pytest.raises(DataError, match="'text'"):
        TextTableRows(path, ["body", "y"], label_column="y")
    cfg = load_config(None, ["data.source=table", "data.task=regression", "data.label_column=y"])
    first = next(iter_table(path, chunk_rows=1)[1])
    assert TextTableRows.from_config(path, columns, cfg.data).convert(first).labels == [0.5]


def test_parquet_errors_name_the_row(tmp_path):
    path = write_table(tmp_path / "d.parquet", ["text", "label"], [["a", "1.5"], ["b", "x"]])
    with pytest.raises(DataError, match=r"d\.parquet row 2, column 'label'.*'x'"):
        read_text_table(path, task="regression")


def test_the_config_keys_reach_the_reader(tmp_path):
    path = write_table(tmp_path / "d.csv", ["body", "a", "b"], [["x", "1", "2.5"]])
    sets = ["data.source=table", f"data.path={path}", "data.text_column=body"]
    ds = load_data(load_config(None, [*sets, 'data.label_columns=["b", "a"]']).data)
    assert ds.labels == [{"b": 2.5, "a": 1.0}]
    ds = load_data(load_config(None, [*sets, "data.label_column=a", "data.task=regression"]).data)
    assert ds.labels == [1.0]


CELLS = st.one_of(
    st.sampled_from(["a b", "", " ", "pos", "neg", "1", "1.0", "0.5", "x|y", "[]", '["a"]', "Dev"]),
    st.sampled_from([None, 1, 1.0, True, ["a", "b"], 2.5, "train", "test", "holdout"]),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(CELLS, CELLS, CELLS), max_size=12),
    task=st.sampled_from(["auto", "regression", "multilabel", "tagging"]),
    skip_empty=st.booleans(),
)
def test_chunks_converted_by_columns_equal_row_by_row(rows, task, skip_empty):
    """A chunk converted by whole columns gives what the row-by-row conversion gives (the
    same examples, or the same error naming the same row), whatever the cells hold: strings,
    numbers that compare equal (1, 1.0, True), lists, None, bad labels and splits."""
    from unittest import mock

    from padless.data.tables import Columns
    from padless.data.text_table import TextTableRows

    names = ["text", "label", "split"]
    cells = {name: [r[j] for r in rows] for j, name in enumerate(names)}
    chunk = Columns(Path("d.jsonl"), names, cells, "line", range(2, len(rows) + 2))

    def convert(by_columns):
        reader = TextTableRows(
            "d.jsonl", names, task=task, label_delimiter="|", skip_empty=skip_empty
        )
        try:
            if by_columns:
                return reader.convert(chunk)
            with mock.patch.object(TextTableRows, "_clean", lambda *_: None):
                return reader.convert(chunk)
        except DataError as exc:
            return str(exc)

    assert convert(True) == convert(False)
