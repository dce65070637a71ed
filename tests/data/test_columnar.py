"""Tests for padless.data.columnar: the columnar reader gives read_long_table's very dataset
(same floats, bit for bit) or None, on random long tables (hypothesis) and on the cases that
must go to the strict reader."""

from __future__ import annotations

import contextlib
import gzip
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import padless.data.columnar
import padless.data.long_table
from padless.data.columnar import read_long_table_columnar
from padless.data.dataset import SequenceDataset
from padless.data.long_table import read_long_table
from tests.data.files import write

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_same(got: SequenceDataset, want: SequenceDataset) -> None:
    """Equal datasets, features compared bit for bit (-0.0 is not 0.0)."""
    assert got.ids == want.ids
    assert got.labels == want.labels
    assert [type(v) for v in got.labels] == [type(v) for v in want.labels]
    assert got.splits == want.splits
    assert got.feature_names == want.feature_names
    assert got.skipped == want.skipped
    assert got.source == want.source
    assert len(got.sequences) == len(want.sequences)
    for a, b in zip(got.sequences, want.sequences, strict=True):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert a.flags.c_contiguous
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


class Reasons(logging.Handler):
    """Why the columnar reader left a file to the strict reader (its debug messages)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def strict_only() -> Iterator[None]:
    """read_long_table without its columnar fast path, however it calls it."""
    modules = [m for m in (padless.data.columnar, padless.data.long_table) if hasattr(m, NAME)]
    saved = [getattr(m, NAME) for m in modules]
    for m in modules:
        setattr(m, NAME, lambda *a, **k: None)
    try:
        yield
    finally:
        for m, f in zip(modules, saved, strict=True):
            setattr(m, NAME, f)


NAME = "read_long_table_columnar"


def compare(path: Path, **kw: Any) -> tuple[SequenceDataset | None, bool]:
    """The columnar dataset (checked against the strict reader's) and whether the strict
    reader accepted the file; ``REASONS`` says why the columnar reader gave None."""
    try:
        with strict_only():
            want = read_long_table(path, **kw)
    except Exception:  # a DataError, or whatever the strict reader raises: never a dataset
        want = None
    log = logging.getLogger("padless.data.columnar")
    level, REASONS.messages = log.level, []
    log.addHandler(REASONS)
    log.setLevel(logging.DEBUG)
    try:
        got = read_long_table_columnar(path, **kw)
    finally:
        log.removeHandler(REASONS)
        log.setLevel(level)
    if want is None:
        assert got is None
    elif got is not None:
        assert_same(got, want)
    return got, want is not None


def record(got: SequenceDataset | None, accepted: bool) -> None:
    """What the property tests explored (pytest --hypothesis-show-statistics)."""
    event(f"strict: {'dataset' if accepted else 'error'}; columnar: {'dataset' if got else 'None'}")
    if got is not None and got.skipped:
        event(f"skipped: {sorted(got.skipped)}")


REASONS = Reasons()


# ----------------------------------------------------------------------------- text tables
CLEAN_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.6e}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["0", "-0", "-0.0", ".5", "5.", "1E3", "inf", "-inf", "Infinity", "1e39"]),
    st.sampled_from([" 5", "5 ", "+5"]),
)
MISSING = st.sampled_from(["", "NA", "nan", "NaN", "?", "null", "N/A", "n/a", "Null"])
TRICKY_NUMBERS = st.sampled_from(
    ["oops", "1_000", "-nan", "nan(1)", "0x10", "\u0661", " na", "1,5", "true", "1e"]
)
IDS = st.sampled_from(["a", "b", "s1", "s 2", "é", "x,y"])
TRICKY_IDS = st.sampled_from([" a", "a ", "", "  ", "a\u3000"])
STEP_TEXTS = st.sampled_from(["2021-01-0", "t", "T", "z", "é"])


@st.composite
def text_tables(draw: Any) -> dict[str, Any]:
    """A random long table as text cells, with the reader's arguments and whether only
    constructs the columnar reader must accept were drawn (``clean``)."""
    tricky = draw(st.integers(0, 2)) == 0
    n_features = draw(st.integers(1, 3))
    step_kind = draw(st.sampled_from(["int", "float", "text", "none"]))
    task = draw(st.sampled_from(["auto", "auto", "regression", "multilabel", "tagging"]))
    split = draw(st.sampled_from(["none", "constant", "column"]))
    rows: list[dict[str, str]] = []
    n_seq = draw(st.integers(1, 4))
    unique = draw(st.lists(IDS, min_size=n_seq, max_size=n_seq, unique=True))
    for i in range(n_seq):
        sid = draw(st.one_of(IDS, TRICKY_IDS)) if tricky else unique[i]
        length = draw(st.integers(1, 5))
        steps = draw(st.permutations(list(range(length))))
        if tricky and draw(st.booleans()):
            steps = [steps[0]] + list(steps)  # a duplicate step
        label = draw(_labels(task, tricky))
        split_value = draw(st.sampled_from(["train", "test", "valid", "Validation", "dev", ""]))
        for k, t in enumerate(steps):
            row = {"id": sid, "label": label if task != "tagging" else draw(_labels(task, tricky))}
            row["t"] = _step(draw, step_kind, t, tricky)
            for j in range(n_features):
                pool = [CLEAN_NUMBERS] * 6 + [MISSING] + [TRICKY_NUMBERS] * tricky
                row[f"x{j}"] = draw(st.one_of(*pool))
            row["note"] = draw(st.sampled_from(["hello", "w", ""]))
            if split == "column":
                row["split"] = split_value if not (tricky and k) else draw(st.just("test"))
            if tricky and k and draw(st.integers(0, 9)) == 0:
                row["label"] = "changed"
            rows.append(row)
    rows = draw(st.permutations(rows)) if draw(st.booleans()) else rows
    header = ["id", "t", *[f"x{j}" for j in range(n_features)], "note", "label"]
    header += ["split"] if split == "column" else []
    kw: dict[str, Any] = {"id_column": "id", "label_column": "label"}
    kw["step_column"] = None if step_kind == "none" else "t"
    kw["split_column"] = {"none": None, "constant": "split", "column": "split"}[split]
    kw["nan_policy"] = draw(st.sampled_from(["raise", "drop_steps", "zero"]))
    kw["skip_empty"] = draw(st.booleans())
    kw["task"], kw["multilabel"] = ("auto", True) if task == "multilabel" else (task, False)
    kw["label_delimiter"] = "|" if task == "multilabel" else None
    chosen = draw(st.sampled_from([None, "all", "some", "with_step"]))
    features = [f"x{j}" for j in range(n_features)]
    if chosen is not None:
        kw["feature_columns"] = {"all": features, "some": features[:1]}.get(
            chosen, [*features, "t"]
        )
    if draw(st.booleans()):
        kw["label_column"], kw["label_columns"] = None, None
    return {"header": header, "rows": rows, "kw": kw, "clean": not tricky and _plain(rows)}


def _plain(rows: list[dict[str, str]]) -> bool:
    """No column with both a missing cell and a -0: the strict reader may read that -0 as
    +0.0 (through int), pyarrow as -0.0, so the columnar reader leaves it to the strict one."""
    for column in [c for c in rows[0] if c.startswith("x")]:
        cells = [row[column].strip() for row in rows]
        missing = any(c.lower() in ("", "?", "na", "n/a", "null", "nan") for c in cells)
        if missing and any(c.startswith("-") and _zero(c) for c in cells):
            return False
    return True


def _zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def _labels(task: str, tricky: bool) -> st.SearchStrategy[str]:
    pools = {
        "regression": ["1", "1.0", "-0", "0", "2.5", "1e-3"],
        "multilabel": ["a|b", "b|a", "", "a", '["a", "b"]'],
    }
    pool = pools.get(task, ["p", "q", "1", "1.0", " p"])
    return st.sampled_from(pool + (["", "x y", "nan"] if tricky else []))


def _step(draw: Any, kind: str, t: int, tricky: bool) -> str:
    if tricky and draw(st.integers(0, 6)) == 0:
        return draw(st.sampled_from(["", "nan", "0x1f", "99999999999999999999", "1_0", "x"]))
    if kind == "float":
        return draw(st.sampled_from([f"{t}.5", f"{t / 4}", f"{t}e0", str(t)]))
    if kind == "text":
        return draw(STEP_TEXTS) + str(t)
    return draw(st.sampled_from([str(t), f"00{t}", str(t - 2)]))


@st.composite
def layouts(draw: Any) -> dict[str, Any]:
    """How a table is written: delimiter, quoting, line ends, BOM, blank lines, gzip."""
    return {
        "delim": draw(st.sampled_from([",", "\t"])),
        "quote": draw(st.sampled_from(["needed", "needed", "all", "strings", "bad"])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "bom": draw(st.booleans()),
        "blank": draw(st.booleans()),
        "gzip": draw(st.booleans()),
        "last_newline": draw(st.booleans()),
    }


def _cell(value: str, delim: str, quote: str, numeric: bool) -> str:
    if quote == "all" or (quote == "strings" and not numeric) or delim in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if quote == "bad" and value == "hello":
        return '"hel"lo'  # pyarrow reads hello, the strict reader refuses
    return value


def write_text(path: Path, table: dict[str, Any], layout: dict[str, Any]) -> Path:
    delim, quote, nl = layout["delim"], layout["quote"], layout["newline"]
    numeric = {"t", "x0", "x1", "x2"}
    lines = [delim.join(_cell(h, delim, quote, False) for h in table["header"])]
    for row in table["rows"]:
        cells = [_cell(row[h], delim, quote, h in numeric) for h in table["header"]]
        lines.append(delim.join(cells))
        if layout["blank"] and len(lines) == 2:
            lines.append("")
    text = ("\ufeff" if layout["bom"] else "") + nl.join(lines) + (nl * layout["last_newline"])
    data = text.encode("utf-8")
    name = "table" + (".csv" if delim == "," else ".tsv") + (".gz" if layout["gzip"] else "")
    (path / name).write_bytes(gzip.compress(data) if layout["gzip"] else data)
    return path / name


@SETTINGS
@given(table=text_tables(), layout=layouts())
def test_text_tables_match_the_strict_reader(tmp_path_factory, table, layout):
    path = write_text(tmp_path_factory.mktemp("t"), table, layout)
    got, accepted = compare(path, **table["kw"])
    record(got, accepted)
    if table["clean"] and accepted and layout["quote"] != "bad":
        assert got is not None, (REASONS.messages, table, path.read_bytes()[:2000])


# ----------------------------------------------------------------------------- Parquet
@st.composite
def parquet_tables(draw: Any) -> tuple[Any, dict[str, Any], bool]:
    n_seq, rows = draw(st.integers(1, 4)), []
    int_ids = draw(st.booleans())
    for s in range(n_seq):
        length = draw(st.integers(1, 4))
        label = draw(st.sampled_from(["p", "q"]))
        target = draw(st.sampled_from([0.5, -0.0, 0.0, 2.0]))
        split = draw(st.sampled_from(["train", "Test", "dev", None]))
        for t in draw(st.permutations(list(range(length)))):
            x = draw(st.one_of(st.floats(width=64), st.none()))
            n = draw(st.integers(-5, 5))
            rows.append((s if int_ids else f"s{s}", t, x, n, label, target, split))
    rows = draw(st.permutations(rows))
    cols = list(zip(*rows, strict=True))
    step_type = draw(st.sampled_from([pa.int64(), pa.float64(), pa.int16(), pa.string()]))
    steps = [str(t) for t in cols[1]] if step_type == pa.string() else list(cols[1])
    table = pa.table(
        {
            "sid": pa.array(cols[0]),
            "t": pa.array(steps, step_type),
            "x": pa.array(cols[2], draw(st.sampled_from([pa.float64(), pa.float32()]))),
            "n": pa.array(cols[3], pa.int64()),
            "label": pa.array(cols[4]).dictionary_encode() if draw(st.booleans()) else cols[4],
            "target": pa.array(cols[5], pa.float64()),
            "split": pa.array(cols[6], pa.string()),
        }
    )
    kw: dict[str, Any] = {"id_column": "sid", "step_column": draw(st.sampled_from(["t", None]))}
    regression = draw(st.booleans())
    kw["label_column"], kw["task"] = ("target", "regression") if regression else ("label", "auto")
    kw["nan_policy"] = draw(st.sampled_from(["raise", "drop_steps", "zero"]))
    kw["skip_empty"] = draw(st.booleans())
    kw["split_column"] = draw(st.sampled_from(["split", None]))
    kw_clean = kw["step_column"] == "t" or step_type != pa.string()  # numbers as text: strict
    return table, kw, kw_clean


@SETTINGS
@given(case=parquet_tables())
def test_parquet_tables_match_the_strict_reader(tmp_path_factory, case):
    table, kw, clean = case
    path = tmp_path_factory.mktemp("p") / "table.parquet"
    pq.write_table(table, path)
    got, accepted = compare(path, **kw)
    record(got, accepted)
    assert got is not None or not accepted or not clean, (REASONS.messages, table.to_pydict(), kw)


# ----------------------------------------------------------------------------- cases
LONG = """\
sid,t,x,y,note,label,split
s2,1,10,-1,hello,b,test
s1,2,2.5,20,x,a,train
s1,0,0.5,0,y,a,train
s2,0,9,-2,z,b,test
s1,1,1.5,10,w,a,train
"""
KW = {"id_column": "sid", "label_column": "label", "step_column": "t", "split_column": "split"}


def test_sequences_are_views_of_one_float32_array(tmp_path, caplog):
    path = write(tmp_path / "long.csv", LONG)
    got, _ = compare(path, **KW)
    assert got is not None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="padless.data"):
        read_long_table_columnar(path, **KW)
    # the strict reader's warning, on its logger
    assert [r.name for r in caplog.records] == ["padless.data.long_table"]
    assert "left out of the features: ['note']" in caplog.text
    base = got.sequences[0].base
    assert base is not None and all(s.base is base for s in got.sequences)
    assert base.shape == (5, 2) and base.flags.c_contiguous


@pytest.mark.parametrize(
    "text",
    [
        'sid,t,x,label\n"a"b,0,1,p\n',  # text after a closing quote: pyarrow reads ab
        'sid,t,x,label\n"a\nb",0,1,p\n',  # a field spanning lines
        "sid,t,x,label\ra,0,1,p\r",  # bare CRs
        "sid,t,x,label\na,0,1_000,p\n",  # Python reads 1000, pyarrow not
        "sid,t,x,label\na,0,-nan,p\n",  # NaN to pyarrow; the strict reader agrees, but ask it
        "sid,t,x,label\na,0,1,p\na,0,2,p\n",  # a duplicate step
        "sid,t,x,label\na,0,1,p\na,1,2,q\n",  # a label changing within a sequence
        "sid,t,x,label\na,0,1,p\n,1,2,p\n",  # an empty id
        "sid,t,x,label\na,0,1,p\na,1,2\n",  # a row with a field missing
    ],
)
def test_what_the_strict_reader_must_decide(tmp_path, text):
    path = write(tmp_path / "bad.csv", text)
    assert (
        read_long_table_columnar(path, id_column="sid", label_column="label", step_column="t")
        is None
    )


def test_latin1_jsonl_and_missing_pyarrow_go_to_the_strict_reader(tmp_path, monkeypatch):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"sid,x,label\na,1,p\nb,2,caf\xe9\n")
    assert read_long_table_columnar(latin, id_column="sid", label_column="label") is None
    jsonl = write(tmp_path / "a.jsonl", '{"sid": "a", "x": 1, "label": "p"}\n')
    assert read_long_table_columnar(jsonl, id_column="sid", label_column="label") is None
    path = write(tmp_path / "long.csv", LONG)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert read_long_table_columnar(path, **KW) is None


def test_r_style_quoting_crlf_bom_and_gzip(tmp_path):
    text = "\ufeff" + LONG.replace("\n", "\r\n")
    for i, name in enumerate(["sid", "note", "label", "split", "s1", "s2", "a", "b"]):
        text = text.replace(f",{name},", f',"{name}",') if i < 4 else text
    path = tmp_path / "r.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    got, _ = compare(path, **KW)
    assert got is not None and got.ids == ["s2", "s1"]


def test_tagging_several_targets_and_policies(tmp_path):
    text = "sid,t,x,tag,y1,y2\na,1,NA,B,1,2\na,0,1,A,1.0,2\nb,0,?,A,3,4\nc,0,5,C,0,-0\n"
    path = write(tmp_path / "tags.csv", text)
    base = {"id_column": "sid", "step_column": "t", "feature_columns": ["x"]}
    got, _ = compare(
        path, **base, label_column="tag", task="tagging", nan_policy="drop_steps", skip_empty=True
    )
    assert got is not None and got.labels == [["A"], ["C"]]
    assert got.skipped == {"nan_steps_dropped": 2, "empty_sequences": 1}
    got, _ = compare(path, **base, label_column=None, label_columns=["y1", "y2"], nan_policy="zero")
    assert got is not None and got.labels[0] == {"y1": 1.0, "y2": 2.0}
    assert got.skipped == {"nan_values_zeroed": 2}


def test_ids_that_strip_alike_are_one_sequence(tmp_path):
    path = write(tmp_path / "ids.csv", "sid,t,x,label\na,1,1,p\n a ,0,2,p\nb,0,3,q\n")
    got, _ = compare(path, **{k: v for k, v in KW.items() if k != "split_column"})
    assert got is not None and got.ids == ["a", "b"] and got.lengths().tolist() == [2, 1]


def test_text_steps_sort_as_text_and_step_as_feature(tmp_path):
    text = "id,when,v,lab\na,2021-01-03,3,k\na,2021-01-01,1,k\na,0x1f,2,k\n"
    path = write(tmp_path / "d.csv", text)
    got, _ = compare(path, id_column="id", label_column="lab", step_column="when")
    assert got is not None and got.sequences[0][:, 0].tolist() == [2, 1, 3]
    path = write(tmp_path / "n.csv", "id,t,v,lab\na,2,3,k\na,1,1,k\na,3,2,k\n")
    got, _ = compare(
        path, id_column="id", label_column="lab", step_column="t", feature_columns=["t", "v"]
    )
    assert got is not None and got.sequences[0].tolist() == [[1, 1], [2, 3], [3, 2]]


def test_a_mixed_column_goes_to_the_strict_reader_and_text_columns_are_dropped(tmp_path):
    path = write(tmp_path / "m.csv", "sid,x,note,label\na,1,abc,p\na,2,3,p\n")
    assert read_long_table_columnar(path, id_column="sid", label_column="label") is None
    path = write(tmp_path / "t.csv", "sid,x,note,when,label\na,1,abc,2021-01-01,p\na,2,,x,p\n")
    got, _ = compare(path, id_column="sid", label_column="label")
    assert got is not None and got.feature_names == ["x"]


def test_parquet_null_ids_and_text_steps(tmp_path):
    table = pa.table({"sid": ["a", None, "b"], "t": ["x", "y", "z"], "x": [1.0, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "null.parquet")
    kw = {"id_column": "sid", "label_column": None, "step_column": "t"}
    assert read_long_table_columnar(tmp_path / "null.parquet", **kw) is None
    pq.write_table(table.set_column(0, "sid", pa.array(["a", "a", "b"])), tmp_path / "ok.parquet")
    got, _ = compare(tmp_path / "ok.parquet", **kw)
    assert got is not None and got.lengths().tolist() == [2, 1]
