"""Tests for padless.data.delimited: strict CSV / TSV rows (a stray quote never merges rows),
malformed rows raised or skipped (BadRows), the multi-line check, and round trips of what
csv.writer writes. Read through padless.data.tables, the way every table file is."""

import csv
import io
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from padless.data.delimited import BadRows
from padless.data.tables import read_columns, read_table
from padless.errors import DataError
from tests.data.files import write


def test_csv_error_names_the_line(tmp_path, monkeypatch):
    limit = csv.field_size_limit()
    real = csv.field_size_limit
    monkeypatch.setattr(csv, "field_size_limit", lambda *_: real(5))
    try:
        with pytest.raises(DataError, match="d.csv line 3: expected valid CSV"):
            read_table(write(tmp_path / "d.csv", "text,label\nab,c\nmuch too long,c\n"))
    finally:
        real(limit)


# ----------------------------------------------------------------------------- malformed rows
ROWS = 20_000  # the bug does not depend on the size: 1,000,000 rows read the same way
BAD = ROWS // 2  # the data row with the stray quote, at line BAD + 1 (the header is line 1)


def stray_quote_table(kind: str, style: str) -> tuple[str, list[list[str]]]:
    """A table of ROWS rows, every text quoted, where data row BAD opens a quote it never
    closes; and the rows a correct reader gives once that row is dropped. ``style``: what
    follows the stray quote. ``"quoted"``: the next row's opening quote pairs with it (the
    issue's case: the bad row swallowed the next and took its label); ``"closes"``: the next
    row's text ends with a quote, so the swallowing field is well-formed CSV; ``"eof"``: no
    quote ever comes back."""
    d = "\t" if kind == "tsv" else ","
    rows = [[f"review {i}", "pos" if i % 3 else "neg"] for i in range(ROWS)]
    lines = [f"text{d}label"]
    for i, (text, label) in enumerate(rows):
        if i == BAD:
            lines.append(f'"{text}{d}{label}')  # the stray quote
        elif style == "eof" and i > BAD:
            lines.append(f"{text}{d}{label}")
        elif style == "closes" and i == BAD + 1:
            rows[i][0] = text + '"'
            lines.append(f'{text}"{d}{label}')
        else:
            lines.append(f'"{text}"{d}{label}')
    return "\n".join(lines) + "\n", rows[:BAD] + rows[BAD + 1 :]


@pytest.mark.parametrize("kind", ["csv", "tsv"])
@pytest.mark.parametrize("style", ["quoted", "closes", "eof"])
def test_a_stray_quote_never_merges_rows(tmp_path, kind, style):
    text, expected = stray_quote_table(kind, style)
    path = write(tmp_path / f"d.{kind}", text)
    with pytest.raises(DataError, match=rf"d\.{kind} line {BAD + 2}: expected .*quote") as err:
        read_table(path)
    assert "Fix:" in str(err.value) and "skip_bad_rows" in str(err.value)
    bad = BadRows()
    columns, rows = read_table(path, bad_rows=bad)  # skipped on request: only the bad row
    assert [[r["text"], r["label"]] for _, r in rows] == expected
    assert bad.count == 1 and bad.first[0][0] == BAD + 2 and f"line {BAD + 2}" in str(bad)
    assert len(read_columns(path, bad_rows=BadRows())) == ROWS - 1


def test_skipping_keeps_every_row_after_a_bad_one_and_lists_the_first_lines(tmp_path):
    text = 'text,label\na,x\n"b,x\nc,y\n"d",y\n"e"f,x\ng,x,extra\nh,y\n' + "".join(
        f'"{i},x\n' for i in range(7)
    )
    bad = BadRows()
    _, rows = read_table(write(tmp_path / "d.csv", text), bad_rows=bad)
    assert [(n, r["text"]) for n, r in rows] == [(2, "a"), (4, "c"), (5, "d"), (8, "h")]
    assert bad.count == 10 and [n for n, _ in bad.first] == [3, 6, 7, 9, 10]
    assert str(bad).startswith("10 malformed rows skipped: line 3 (") and "5 more" in str(bad)


def test_multiline_fields_are_read_unless_a_line_inside_is_a_row(tmp_path):
    legit = (
        "text,label,split\n"
        "short,pos,train\n"
        '"Great, really.\nActing, plot, score: all fine.\n\nLoved it, 10/10",pos,train\n'
        '"two\nlines",neg,test\n'
    )
    _, rows = read_table(write(tmp_path / "ok.csv", legit))
    assert [r["text"] for _, r in rows][1:] == [
        "Great, really.\nActing, plot, score: all fine.\n\nLoved it, 10/10",
        "two\nlines",
    ]
    # A line inside the field that reads as a row of this table (a known label and split):
    swallowed = legit + '"stray text\nmore text,pos,train\nlast",neg,test\n'
    with pytest.raises(DataError, match=r"line 9: .*line 10 reads as a row of its own"):
        read_table(write(tmp_path / "bad.csv", swallowed))
    trusted = read_table(tmp_path / "bad.csv", check_multiline=False)[1]
    assert trusted[-1][1]["text"] == "stray text\nmore text,pos,train\nlast"
    # Values of the whole file count, even those of rows after the multi-line field.
    early = 'text,label\n"stray,pos\nnext",neg\nc,pos\n'
    with pytest.raises(DataError, match="line 2: .*line 2 reads as a row"):
        read_table(write(tmp_path / "early.csv", early))
    one_column = 'text\n"stray\nnext"\nc\n'  # no other column: nothing tells a row from text
    assert len(read_table(write(tmp_path / "one.csv", one_column))[1]) == 2


CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
PROSE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=","), max_size=40)
FIXTURE_OK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FIXTURE_OK
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=20))
def test_any_table_csv_writer_writes_reads_back_exactly(tmp_path, rows):
    """Strictness never refuses what csv.writer writes: quotes, delimiters, multi-line fields,
    CR, LF and CRLF inside fields. ``check_multiline`` off: arbitrary text can hold lines
    that read as rows."""
    for kind, d in (("csv", ","), ("tsv", "\t")):
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, delimiter=d)
        writer.writerow(["a", "b", "c"])
        writer.writerows(rows)
        path = tmp_path / f"p.{kind}"
        path.write_text(buf.getvalue(), encoding="utf-8", newline="")
        got = read_columns(path, check_multiline=False)
        assert [list(t) for t in zip(*got.cells.values(), strict=True)] == [list(r) for r in rows]


@FIXTURE_OK
@given(
    rows=st.lists(st.tuples(PROSE, st.sampled_from(["pos", "neg", "x"])), min_size=1, max_size=20)
)
def test_multiline_text_without_the_delimiter_reads_back_with_the_check_on(tmp_path, rows):
    """With the check on, text whose lines hold no delimiter (so no line reads as a row) is
    read back exactly, however many lines and quotes it holds."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path = tmp_path / "p.csv"
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    got = read_columns(path)
    assert list(zip(got.cells["text"], got.cells["label"], strict=True)) == rows


# ----------------------------------------------------------------------------- streaming
def _read_all(lines, stream, bad_rows):
    """Every row, the rows skipped and the error (if any) of a reader over ``lines`` as a list
    or streamed; no seed either way, so both keep the values of rows read so far."""
    from padless.data.delimited import DelimitedReader

    bad = BadRows() if bad_rows else None
    source = iter(lines) if stream else list(lines)
    try:
        rows = list(DelimitedReader(source, "t.csv", "csv", bad_rows=bad))
    except DataError as exc:
        return "error", str(exc)
    return rows, bad


LINE = st.lists(
    st.sampled_from(["a", "b", "pos", "neg", ",", '"', '""', " ", "x y", "\n", "\r\n"]),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(body=st.lists(LINE, max_size=30), block=st.integers(1, 5), bad_rows=st.booleans())
def test_streamed_lines_read_as_the_same_lines_in_a_list(body, block, bad_rows):
    """Lines streamed a block at a time (blocks of 1 to 5 lines, so records, multi-line fields
    and the lines given back after a malformed row cross block ends) give the rows, skips
    and errors of the same lines held in a list."""
    from padless.data.delimited import _BlockLines

    lines = io.StringIO("text,label\n" + "\n".join(body) + "\n", newline="").readlines()
    with mock.patch.object(_BlockLines, "BLOCK", block):
        assert _read_all(lines, True, bad_rows) == _read_all(lines, False, bad_rows)


VALUE = st.one_of(
    st.sampled_from(["", " ", "pos", " pos ", "neg", "x" * 101, " " + "y" * 100, "z" * 100]),
    st.text(st.sampled_from("ab \t"), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(st.tuples(VALUE, VALUE), max_size=60), cap=st.integers(1, 12))
def test_values_remembered_at_once_equal_one_record_at_a_time(records, cap):
    """The evidence of swallowed rows (each column's first short values, up to a cap) is the
    same whether the values of many records are kept at once or one record at a time."""
    from padless.data import delimited

    with mock.patch.object(delimited, "_SEEN_VALUES", cap):
        one, many = (delimited.DelimitedReader(["a,b\n"], "t.csv", "csv") for _ in range(2))
        for record in records:
            one._remember(list(record))
        many._remember_all([list(r) for r in records])
    assert one._seen == many._seen
