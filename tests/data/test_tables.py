"""Tests for padless.data.tables: the one table reader (rows and columns views), format
inference, and its errors. The strict CSV / TSV parser under it: test_delimited.py."""

import gzip
import sys
from pathlib import Path

import pytest

from padless.data.delimited import BadRows
from padless.data.tables import infer_format, read_columns, read_table
from padless.errors import DataError, MissingDependencyError
from tests.data.files import write


def test_unknown_suffix():
    with pytest.raises(DataError, match="format="):
        from pathlib import Path

        infer_format(Path("data.xlsx"))


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("d.csv", None, "csv"),
        ("d.TSV.gz", None, "tsv"),
        ("d.json", None, "jsonl"),
        ("d.ndjson.gz", None, "jsonl"),
        ("d.pq", None, "parquet"),
        ("d.txt", None, "tsv"),
        ("d.data", "CSV", "csv"),
    ],
)
def test_infer_format(name, fmt, expected):
    assert infer_format(Path(name), fmt) == expected


def test_infer_format_refuses_unknown_format_argument():
    with pytest.raises(DataError, match="a format among csv, tsv, jsonl, parquet"):
        infer_format(Path("d.csv"), "xlsx")


def test_rows_keep_their_line_numbers(tmp_path):
    text = ' text , label\n"two\nlines",a\n\nb,c\n'  # a quoted newline, then a blank line
    columns, rows = read_table(write(tmp_path / "d.csv", text))
    assert columns == ["text", "label"]  # header names are stripped
    assert rows == [(3, {"text": "two\nlines", "label": "a"}), (5, {"text": "b", "label": "c"})]


def test_columns_of_csv_keep_duplicates_and_line_numbers(tmp_path):
    table = read_columns(write(tmp_path / "d.csv", "id,x,x\na,1,2\n\nb,3,4\n"))
    assert table.names == ["id", "x", "x"]  # the caller decides about duplicates
    assert table.cells["id"] == ["a", "b"] and len(table) == 2
    assert table.unit == "line" and list(table.numbers) == [2, 4] and table.ref(1) == "line 4"


def test_columns_of_jsonl_are_every_key_typed(tmp_path):
    text = '{"id": "a", "x": 1.5}\n\n{"id": "b", "y": null, "z": [1]}\n'
    table = read_columns(write(tmp_path / "d.jsonl", text))
    assert table.names == ["id", "x", "y", "z"]
    assert table.cells == {"id": ["a", "b"], "x": [1.5, None], "y": [None, None], "z": [None, [1]]}
    assert list(table.numbers) == [1, 3]


def test_columns_of_parquet_are_numbered_by_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a", "b"], "x": [1.0, None]}), tmp_path / "d.parquet")
    table = read_columns(tmp_path / "d.parquet")
    assert table.cells == {"id": ["a", "b"], "x": [1.0, None]}
    assert table.unit == "row" and table.ref(0) == "row 1"
    columns, rows = read_table(tmp_path / "d.parquet")
    assert columns == ["id", "x"] and rows[1] == (2, {"id": "b", "x": None})


def test_bad_parquet_and_missing_pyarrow(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    path = write(tmp_path / "d.parquet", "not really parquet")
    with pytest.raises(DataError, match="d.parquet: expected a Parquet file"):
        read_columns(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependencyError, match=r"pip install padless\[parquet\]") as exc:
        read_table(path)
    assert isinstance(exc.value, ImportError) and isinstance(exc.value, DataError)


def test_gzip_is_recognised_by_content_and_checked(tmp_path):
    data = gzip.compress(b"text,label\na,b\n")
    (tmp_path / "plain.csv").write_bytes(data)  # gzip content without a .gz name
    assert read_table(tmp_path / "plain.csv")[1] == [(2, {"text": "a", "label": "b"})]
    (tmp_path / "cut.csv.gz").write_bytes(data[:20])
    with pytest.raises(DataError, match="cut.csv.gz: expected a complete gzip file"):
        read_table(tmp_path / "cut.csv.gz")


def test_empty_file_and_bom(tmp_path):
    with pytest.raises(DataError, match="a header row, got an empty file"):
        read_columns(write(tmp_path / "empty.tsv", ""))
    (tmp_path / "bom.tsv").write_bytes("\ufeffid\tx\na\t1\n".encode())
    assert read_columns(tmp_path / "bom.tsv").names == ["id", "x"]


def test_bad_jsonl_lines_raise_or_are_skipped(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a"}\n{oops\n[1]\n{"text": "b"}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 2: expected one JSON object per line"):
        read_table(path)
    bad = BadRows()
    _, rows = read_table(path, bad_rows=bad)
    assert rows == [(1, {"text": "a"}), (4, {"text": "b"})]
    assert [n for n, _ in bad.first] == [2, 3] and bad.count == 2
