"""padless.encode.streaming: a store built a chunk of rows at a time equals the in-memory data
stage on the same table (rows, ids, targets, vocabulary, labels) for every format and task,
across chunk boundaries; bad rows fail or are counted as in memory."""

import gzip
import json

import numpy as np
import pytest

import padless.encode.streaming as streaming
from padless.config import load_config
from padless.encode.prepared import prepare
from padless.encode.splits import prepare_in_memory
from padless.errors import DataError

from .test_prepared import assert_same_splits

WORDS = [
    "Good", "bad", "film", "don't", "it's", "<br />", "&amp;", "plot", "actors'", "great!",
    "a_b", "naïve", "Movie.", "x", "ok,", "<i>dull</i>", "10/10", "l'été", "end", "more",
]  # fmt: skip


def _rows(n, task, seed=0, splits=True):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = [WORDS[k] for k in rng.integers(0, len(WORDS), size=int(rng.integers(1, 12)))]
        text = " ".join([*words, f"w{i % 7}"])
        if task == "multiclass":
            label = ["red", "green", "blue"][int(rng.integers(0, 3))]
        elif task == "regression":
            label = round(float(rng.normal()), 4)
        elif task == "multilabel":
            label = sorted({t for t in ["x", "y", "z"] if rng.random() < 0.4})
        else:
            label = ["neg", "pos"][int(rng.integers(0, 2))]
        row = {"text": text, "label": label}
        if splits:
            row["split"] = ["train", "train", "train", "test", "valid"][i % 5]
        out.append(row)
    return out


def _write(path, rows, fmt):
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",")
    cols = list(rows[0])
    w.writerow(cols)
    for r in rows:
        w.writerow(["|".join(r[c]) if isinstance(r[c], list) else r[c] for c in cols])
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _cfg(tmp_path, path, *sets):
    return load_config(
        None,
        [
            "data.source=table",
            f"data.path={path}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "text.max_size=12",
            "text.min_freq=1",
            *sets,
        ],
    )


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 7)


SUFFIX = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet", "gz": ".csv.gz"}


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "multilabel"])
def test_streamed_store_equals_memory(tmp_path, small_chunks, fmt, task):
    path = tmp_path / f"t{SUFFIX[fmt]}"
    _write(path, _rows(60, task), "csv" if fmt == "gz" else fmt)
    sets = [f"data.task={task}"]
    if task == "multilabel":
        sets += ["data.multilabel=true", "data.label_delimiter=|"]
    cfg = _cfg(tmp_path, path, *sets)
    assert streaming.streams(cfg)
    assert_same_splits(prepare_in_memory(cfg), prepare(cfg))


@pytest.mark.parametrize(
    "sets",
    [
        ["text.max_length=4", "text.truncation=head"],
        ["text.max_length=5", "text.truncation=tail"],
        ["text.max_length=6", "text.truncation=head+tail"],
        ["text.lowercase=false", "text.strip_html=false", "text.max_size=30"],
        ["text.min_freq=3", "text.max_size=1000"],
        ["data.valid_fraction=0.25", "train.seed=5"],
    ],
)
def test_streamed_store_equals_memory_for_text_settings(tmp_path, small_chunks, sets):
    path = tmp_path / "t.csv"
    _write(path, _rows(80, "binary", seed=3, splits="valid" not in " ".join(sets)), "csv")
    cfg = _cfg(tmp_path, path, *sets)
    assert_same_splits(prepare_in_memory(cfg), prepare(cfg))


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_worker_processes_build_the_store_memory_gives(tmp_path, small_chunks, fmt, workers):
    """Chunks tokenized by worker processes (round-robin, results taken back in order) give
    the store of the in-memory path: same provisional ids, so the same vocabulary order."""
    path = tmp_path / f"t{SUFFIX[fmt]}"
    _write(path, _rows(90, "multiclass", seed=4), fmt)
    cfg = _cfg(tmp_path, path, f"data.encode_workers={workers}", "text.lowercase=false")
    assert_same_splits(prepare_in_memory(cfg), prepare(cfg))


def test_rows_without_a_split_are_train_and_validation_is_drawn_as_in_memory(
    tmp_path, small_chunks
):
    path = tmp_path / "t.csv"
    _write(path, _rows(50, "binary", splits=False), "csv")
    cfg = _cfg(tmp_path, path, "data.valid_fraction=0.2")
    stored = prepare(cfg)
    assert {k: len(v) for k, v in stored.splits.items()} == {"train": 40, "valid": 10}
    assert_same_splits(prepare_in_memory(cfg), stored)


def test_tagging_from_jsonl_streams_with_tags_truncated_like_tokens(tmp_path, small_chunks):
    rows = []
    rng = np.random.default_rng(1)
    for i in range(40):
        words = [["the", "cat", "sat", "on", "mats"][k] for k in rng.integers(0, 5, size=6)]
        tags = ["N" if w in ("cat", "mats") else "O" for w in words]
        rows.append({"text": " ".join(words), "label": tags, "split": ["train", "test"][i % 2]})
    path = tmp_path / "t.jsonl"
    _write(path, rows, "jsonl")
    cfg = _cfg(tmp_path, path, "data.task=tagging", "text.max_length=4", "text.truncation=tail")
    assert_same_splits(prepare_in_memory(cfg), prepare(cfg))


def test_several_regression_targets_stream_as_in_memory(tmp_path, small_chunks):
    rows = _rows(40, "regression")
    for r in rows:
        r["y2"] = round(r["label"] * 3 + 1, 3)
    path = tmp_path / "t.jsonl"
    _write(path, rows, "jsonl")
    cfg = _cfg(tmp_path, path, 'data.label_columns=["label", "y2"]')
    stored = prepare(cfg)
    assert stored.labels.classes == ("label", "y2")
    assert_same_splits(prepare_in_memory(cfg), stored)


def test_an_unseen_test_label_fails_as_in_memory(tmp_path):
    rows = _rows(20, "binary")
    rows[3] = {**rows[3], "label": "maybe", "split": "test"}
    path = tmp_path / "t.csv"
    _write(path, rows, "csv")
    cfg = _cfg(tmp_path, path)
    for fn in (prepare_in_memory, prepare):
        with pytest.raises(DataError, match="maybe"):
            fn(cfg)
    assert not list((tmp_path / "cache" / "stores").glob("*/store.json"))


def test_a_text_empty_after_cleaning_fails_naming_its_row(tmp_path):
    rows = _rows(20, "binary")
    rows[7] = {**rows[7], "text": "<br /> <b></b>"}
    path = tmp_path / "t.csv"
    _write(path, rows, "csv")
    with pytest.raises(DataError, match="row 7.*at least one token"):
        prepare(_cfg(tmp_path, path))


def test_bad_rows_skipped_on_request_are_counted_in_the_store(tmp_path, small_chunks):
    path = tmp_path / "t.csv"
    _write(path, _rows(30, "binary"), "csv")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(5, "too,many,fields,here\n")
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match="line 6"):
        prepare(_cfg(tmp_path, path))
    cfg = _cfg(tmp_path, path, "data.skip_bad_rows=true")
    stored = prepare(cfg)
    assert stored.skipped == {"bad_rows": 1}
    assert prepare(cfg).skipped == {"bad_rows": 1}  # from store.json on the second run
    assert_same_splits(prepare_in_memory(cfg), stored)


def test_a_limited_table_is_cached_from_memory_with_its_limit(tmp_path):
    """data.limit draws from each whole split, so a limited table is not streamed: the store
    holds the limited rows (streaming once read every row and ignored the limit)."""
    path = tmp_path / "t.csv"
    _write(path, _rows(60, "binary"), "csv")
    cfg = _cfg(tmp_path, path, "data.limit=20")
    assert not streaming.streams(cfg)
    prepared = prepare(cfg)
    assert sum(len(s) for s in prepared.splits.values()) == 20
    assert_same_splits(prepare_in_memory(cfg), prepared)
