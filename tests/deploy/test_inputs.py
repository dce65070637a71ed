"""padless.deploy.inputs: prediction inputs read from tables (CSV / TSV / Parquet, optionally
gzipped), JSON lines or plain lines, streamed in chunks, one input per row, in order."""

import gzip
import json

import pytest

from padless.deploy.inputs import input_kind, read_inputs
from padless.errors import DataError


def texts(source, **kwargs):
    return [t for _, chunk, _ in read_inputs(str(source), **kwargs) for t in chunk]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.TSV.gz", "tsv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.jsonl.gz", "jsonl"),
        ("a.txt", None),
        ("a", None),
        ("-", None),
    ],
)
def test_input_kind_goes_by_suffix(name, kind):
    assert input_kind(name) == kind


def test_a_csv_is_read_as_a_table_one_input_per_row(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"hello, world"\n2,"two\nlines"\n\n3,"a ""quote"""\n')
    chunks = list(read_inputs(str(src), chunk_size=2))
    assert [(o, c) for o, c, _ in chunks] == [
        (0, ["hello, world", "two\nlines"]),
        (2, ['a "quote"']),
    ]
    assert texts(src, text_column="id") == ["1", "2", "3"]


def test_gzipped_tsv_and_progress_reaches_the_file_size(tmp_path):
    body = "".join(f"{i}\ttext {i}\n" for i in range(50))
    src = tmp_path / "in.tsv.gz"
    src.write_bytes(gzip.compress(("id\ttext\n" + body).encode()))
    seen = []
    got = [t for _, c, _ in read_inputs(str(src), 7, seen.append) for t in c]
    assert got == [f"text {i}" for i in range(50)]
    assert sum(seen) == src.stat().st_size
    (tmp_path / "cut.csv").write_bytes(gzip.compress(b"text\na\n")[:15])
    with pytest.raises(DataError, match="complete gzip file"):
        texts(tmp_path / "cut.csv")


def test_table_errors_name_the_file_line_and_column(tmp_path):
    stray = tmp_path / "stray.csv"
    rows = [f'"text {i}",pos' for i in range(10)]
    rows[4] = '"text 4,pos'  # swallows the next row (its quote pairs with the stray one)
    stray.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"stray\.csv line 6: expected valid CSV"):
        texts(stray)
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\na,x\n  ,y\n")
    with pytest.raises(DataError, match=r"line 3, column 'text': expected a non-empty text"):
        texts(empty)
    with pytest.raises(DataError, match=r"a text column named 'body'.*--text-column"):
        texts(empty, text_column="body")
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("text\tlabel\na\tx\tz\n")
    with pytest.raises(DataError, match=r"line 2: expected 2 fields"):
        texts(ragged)


def test_a_table_is_streamed_a_late_error_comes_after_earlier_chunks(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\n" + "".join(f"t{i}\n" for i in range(10)) + '"open\n')
    it = read_inputs(str(src), chunk_size=4)
    assert next(it)[1] == ["t0", "t1", "t2", "t3"]  # before the bad last line was read
    with pytest.raises(DataError, match="line 12: .*never closes"):
        list(it)


def test_parquet_rows_in_order(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    values = [f"text {i}" for i in range(25)]
    pq.write_table(pa.table({"body": values, "y": list(range(25))}), tmp_path / "in.parquet")
    chunks = list(read_inputs(str(tmp_path / "in.parquet"), 10, text_column="body"))
    assert [o for o, _, _ in chunks] == [0, 10, 20]
    assert [t for _, c, _ in chunks for t in c] == values
    with pytest.raises(DataError, match="row 1, column 'y': expected a text"):
        texts(tmp_path / "in.parquet", text_column="y")


def test_jsonl_reads_the_text_column_then_text_then_inputs(tmp_path):
    src = tmp_path / "in.jsonl.gz"
    lines = [{"body": "a"}, {"text": "b"}, {"inputs": [[0.5], [1.0]]}]
    src.write_bytes(gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode()))
    assert texts(src, text_column="body") == ["a", "b", [[0.5], [1.0]]]
