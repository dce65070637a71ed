"""Tests for padless.data.imdb: download, cache and parse IMDB (local only, never the internet),
from a tarball, an extracted folder, a CSV or the packaged sample."""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import http.server
import io
import logging
import os
import socket
import tarfile
import threading
from collections import Counter
from pathlib import Path

import pytest

from padless.config import load_config
from padless.data import imdb as D
from padless.data.dataset import TextDataset
from padless.data.sources import load_data
from padless.errors import DataError

SHARED_IMDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb" / "imdb.csv.gz"

# (split, label, file name, text) in the order imdb() must return them:
# split train first, label neg first, then numeric id (2 before 10).
REVIEWS = [
    ("train", "neg", "0_1.txt", 'Dreadful, awful.\nTwo lines, a comma and "quotes".'),
    ("train", "neg", "5_3.txt", "Bad.<br /><br />Really bad."),
    ("train", "pos", "2_8.txt", "Great movie!"),
    ("train", "pos", "10_9.txt", "Café – très bien ✓ 映画"),
    ("test", "neg", "1_2.txt", "  Not good; leading spaces kept.  "),
    ("test", "pos", "3_10.txt", "Loved it."),
]


def _add(tf: tarfile.TarFile, name: str, data: bytes | None = None, *, link: str | None = None):
    info = tarfile.TarInfo(name)
    info.mtime = 0
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tf.addfile(info)
    elif data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(info)
    else:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def make_tarball(path: Path, overrides: dict[str, bytes] | None = None) -> Path:
    """A tiny aclImdb_v1-style tarball: reviews (shuffled order) plus files to ignore/skip."""
    overrides = overrides or {}
    with tarfile.open(path, "w:gz") as tf:
        _add(tf, "aclImdb")
        _add(tf, "aclImdb/imdbEr.txt", b"0.1\n-0.2\n")
        _add(tf, "aclImdb/imdb.vocab", b"the\nand\n")
        _add(tf, "aclImdb/README", b"readme")
        for split in ("test", "train"):
            _add(tf, f"aclImdb/{split}")
            _add(tf, f"aclImdb/{split}/labeledBow.feat", b"0 0:1\n")
            _add(tf, f"aclImdb/{split}/urls_pos.txt", b"http://example.invalid\n")
            for label in ("pos", "neg"):
                _add(tf, f"aclImdb/{split}/{label}")
        _add(tf, "aclImdb/train/unsup/0_0.txt", b"unlabeled review, must be ignored")
        for split, label, fname, text in reversed(REVIEWS):
            name = f"aclImdb/{split}/{label}/{fname}"
            _add(tf, name, overrides.get(name, text.encode("utf-8")))
        _add(tf, "aclImdb/train/pos/99_10.txt", link="../../imdb.vocab")  # skipped + counted
        _add(tf, "../evil/1_1.txt", b"path traversal")  # skipped + counted
    return path


def expected_rows(splits=("train", "test")):
    return [(s, lab, text) for s, lab, _, text in REVIEWS if s in splits]


def rows(ds: TextDataset):
    return list(zip(ds.splits, ds.labels, ds.texts, strict=True))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    (tmp_path / "srv").mkdir()
    return make_tarball(tmp_path / "srv" / "aclImdb_v1.tar.gz")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_server(tarball: Path):
    """Serve tarball's folder on 127.0.0.1:<free port>; yields (base_url, stop)."""
    handler = functools.partial(_QuietHandler, directory=str(tarball.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stopped = False

    def stop():
        nonlocal stopped
        if not stopped:
            server.shutdown()
            server.server_close()
            thread.join(5)
            stopped = True

    yield f"http://127.0.0.1:{server.server_address[1]}", stop
    stop()


# --------------------------------------------------------------------------- tarball / download


def test_tarball_parsed_exactly(tarball: Path):
    ds = D.imdb(tarball)
    assert rows(ds) == expected_rows()
    assert ds.skipped == {"non_regular_member": 1, "unsafe_path": 1}
    assert ds.source == str(tarball)
    assert rows(D.imdb(tarball, splits=("test",))) == expected_rows(("test",))


def test_file_url_download_verified_and_cached(tarball: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    url = tarball.as_uri()
    ds = D.imdb(url=url, sha256=sha256(tarball), cache_dir=cache, progress=False)
    assert rows(ds) == expected_rows()
    cached = cache / "datasets" / "imdb" / "aclImdb_v1.tar.gz"
    assert files_under(cache) == [cached]  # no temp file left behind
    assert cached.read_bytes() == tarball.read_bytes()


def test_http_download_then_cache_reused_when_server_is_gone(http_server, tarball, tmp_path):
    base, stop = http_server
    cache = tmp_path / "cache"
    url = f"{base}/{tarball.name}"
    first = D.imdb(url=url, sha256=sha256(tarball), cache_dir=cache, progress=True)
    assert rows(first) == expected_rows()
    stop()
    second = D.imdb(url=url, sha256=sha256(tarball), cache_dir=cache, download=True)
    assert rows(second) == expected_rows()
    # ... while a fresh cache really needs the (now stopped) server: a network error.
    with pytest.raises(DataError) as e:
        D.imdb(url=url, sha256=sha256(tarball), cache_dir=tmp_path / "other", progress=False)
    assert url in str(e.value) and "path=" in str(e.value)
    assert files_under(tmp_path / "other") == []


def test_env_cache_dir(tarball, tmp_path, monkeypatch):
    monkeypatch.setenv("PADLESS_CACHE", str(tmp_path / "envcache"))
    assert D.default_cache_dir() == tmp_path / "envcache"
    D.imdb(url=tarball.as_uri(), sha256=sha256(tarball), progress=False)
    assert (tmp_path / "envcache/datasets/imdb/aclImdb_v1.tar.gz").is_file()


@pytest.mark.parametrize("served", ["file", "http"])
def test_sha256_mismatch_raises_and_leaves_nothing(served, http_server, tarball, tmp_path):
    url = tarball.as_uri() if served == "file" else f"{http_server[0]}/{tarball.name}"
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(DataError) as e:
        D.imdb(url=url, sha256=wrong, cache_dir=cache, progress=False)
    msg = str(e.value)
    assert wrong in msg and sha256(tarball) in msg and "Fix:" in msg
    assert files_under(cache) == []


def test_http_404_is_a_data_error(http_server, tmp_path):
    url = f"{http_server[0]}/missing.tar.gz"
    with pytest.raises(DataError, match="404"):
        D.imdb(url=url, cache_dir=tmp_path / "c", progress=False)
    assert files_under(tmp_path / "c") == []


def test_connection_refused_names_url_and_fix(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz"
    with pytest.raises(DataError) as e:
        D.imdb(url=url, cache_dir=tmp_path, progress=False)
    assert url in str(e.value) and "path=" in str(e.value)


def test_download_false_and_not_cached(tmp_path):
    with pytest.raises(DataError) as e:
        D.imdb(cache_dir=tmp_path, download=False)
    msg = str(e.value)
    assert "download=True" in msg and "aclImdb_v1.tar.gz" in msg and D.IMDB_URL in msg


def test_corrupt_cached_file_is_reported(tmp_path):
    cached = tmp_path / "datasets" / "imdb" / "aclImdb_v1.tar.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    with pytest.raises(DataError, match="delete"):
        D.imdb(cache_dir=tmp_path, download=False)


def test_invalid_utf8_member_is_named(tmp_path):
    bad = "aclImdb/train/pos/2_8.txt"
    tar = make_tarball(tmp_path / "bad.tar.gz", {bad: b"caf\xe9 latin-1"})
    with pytest.raises(DataError) as e:
        D.imdb(tar)
    assert bad in str(e.value) and "UTF-8" in str(e.value)


def test_empty_text_raises_or_is_counted(tmp_path):
    empty = "aclImdb/test/pos/3_10.txt"
    tar = make_tarball(tmp_path / "empty.tar.gz", {empty: b" \n"})
    with pytest.raises(DataError) as e:
        D.imdb(tar)
    assert empty in str(e.value) and "skip_empty=True" in str(e.value)
    ds = D.imdb(tar, skip_empty=True)
    assert rows(ds) == [r for r in expected_rows() if r[2] != "Loved it."]
    assert ds.skipped["empty_text"] == 1


def test_truncated_tarball(tarball, tmp_path):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated or corrupt"):
        D.imdb(cut)


def test_tarball_missing_a_group(tmp_path):
    tar = tmp_path / "partial.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        _add(tf, "aclImdb/train/pos/1_9.txt", b"good")
        _add(tf, "aclImdb/train/neg/1_2.txt", b"bad")
    assert rows(D.imdb(tar, splits=["train"])) == [
        ("train", "neg", "bad"),
        ("train", "pos", "good"),
    ]
    with pytest.raises(DataError, match="aclImdb/test/neg/"):
        D.imdb(tar)


def test_incomplete_or_duplicated_sources(tmp_path):
    csv_path = write_csv(
        tmp_path / "train.csv", ["text", "label", "split"], [("ok", "pos", "train")]
    )
    with pytest.raises(DataError, match="split 'test'"):
        D.imdb(csv_path)
    (tmp_path / "aclImdb" / "train" / "neg").mkdir(parents=True)
    (tmp_path / "aclImdb" / "train" / "neg" / "1_1.txt").write_text("bad")
    with pytest.raises(DataError, match="train/pos/"):
        D.imdb(tmp_path, splits="train")
    tar = tmp_path / "dup.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        _add(tf, "aclImdb/train/pos/1_9.txt", b"good")
        _add(tf, "aclImdb/train/pos/1_10.txt", b"great")
    with pytest.raises(DataError, match="review id 1"):
        D.imdb(tar, splits="train")


def test_bad_arguments(tarball, tmp_path):
    with pytest.raises(DataError, match="splits"):
        D.imdb(tarball, splits=("valid",))
    with pytest.raises(DataError, match="no such path"):
        D.imdb(tmp_path / "nope.csv")
    odd = tmp_path / "reviews.json"
    odd.write_text("{}")
    with pytest.raises(DataError, match="unknown format"):
        D.imdb(odd)


def test_extracted_directory(tmp_path):
    root = tmp_path / "data" / "aclImdb"
    for split, label, fname, text in REVIEWS:
        (root / split / label).mkdir(parents=True, exist_ok=True)
        (root / split / label / fname).write_bytes(text.encode("utf-8"))
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("ignored")
    (root / "imdbEr.txt").write_text("0.1\n")
    os.symlink(root / "imdbEr.txt", root / "train" / "pos" / "99_10.txt")
    for p in (root, root.parent):  # the aclImdb folder or its parent
        ds = D.imdb(p)
        assert rows(ds) == expected_rows()
        assert ds.skipped == {"non_regular_member": 1}


# --------------------------------------------------------------------------- CSV + sample


def write_csv(path: Path, header, records) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(records)
    return path


@pytest.mark.parametrize("name", ["imdb.csv", "imdb.csv.gz"])
def test_csv_matches_tarball(name, tarball, tmp_path):
    records = [(text, lab, s) for s, lab, text in expected_rows()]
    path = write_csv(tmp_path / name, ["text", "label", "split"], records)
    assert rows(D.imdb(path)) == rows(D.imdb(tarball))
    assert rows(D.imdb(path, splits="test")) == expected_rows(("test",))


def test_csv_missing_column_names_column_and_file(tmp_path):
    path = write_csv(tmp_path / "nolabel.csv", ["text", "split"], [("good", "train")])
    with pytest.raises(DataError) as e:
        D.imdb(path)
    assert "'label'" in str(e.value) and str(path) in str(e.value)


def test_csv_bad_values_name_the_row(tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        ["text", "label", "split"],
        [("fine", "pos", "train"), ("x", "positive", "test")],
    )
    with pytest.raises(DataError) as e:
        D.imdb(path)
    assert "data row 2" in str(e.value) and "'label'" in str(e.value) and "positive" in str(e.value)
    empty = write_csv(tmp_path / "empty.csv", ["text", "label", "split"], [("", "pos", "test")])
    with pytest.raises(DataError, match="data row 1"):
        D.imdb(empty)


# Line 4 opens a quote it never closes: Python's csv module reads it together with line 5 as
# one review, "Terrible film, avoid,neg,train\nLoved it\"", which takes line 5's label (pos).
STRAY_QUOTE_CSV = """\
text,label,split
"Great fun",pos,train
"Awful",neg,train
"Terrible film, avoid,neg,train
"Loved it",pos,train
"Meh",neg,test
"Superb",pos,test
"""


def write_text(path: Path, text: str) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("name", ["bad.csv", "bad.csv.gz"])
def test_csv_stray_quote_raises_or_is_skipped_counted_and_logged(name, tmp_path, caplog):
    path = write_text(tmp_path / name, STRAY_QUOTE_CSV)
    with pytest.raises(DataError) as e:
        D.imdb(path)
    msg = str(e.value)
    assert f"{path} line 4" in msg and "quote" in msg and "skip_bad_rows=True" in msg, msg
    with caplog.at_level(logging.WARNING, logger="padless.data.imdb"):
        ds = D.imdb(path, skip_bad_rows=True)
    assert rows(ds) == [  # nothing merged: "Loved it" keeps its own label
        ("train", "pos", "Great fun"),
        ("train", "neg", "Awful"),
        ("train", "pos", "Loved it"),
        ("test", "neg", "Meh"),
        ("test", "pos", "Superb"),
    ]
    assert ds.skipped == {"bad_rows": 1}
    assert "1 malformed row skipped: line 4" in caplog.text


def test_csv_skip_bad_rows_and_check_multiline_are_config_keys(tmp_path):
    path = write_text(tmp_path / "bad.csv", STRAY_QUOTE_CSV)
    cfg = load_config(None, ["data.source=imdb", f"data.path={path}", "data.skip_bad_rows=true"])
    ds = load_data(cfg.data)
    assert ds.texts == ["Great fun", "Awful", "Loved it", "Meh", "Superb"]
    assert ds.labels == ["pos", "neg", "pos", "neg", "pos"] and ds.skipped == {"bad_rows": 1}
    # A quoted review spanning lines whose inner line reads as a row of its own is refused...
    swallowed = '"Loved it",pos,train\n"So-so.\nBad,neg,train\nok",neg,test\n"Fine",pos,test\n'
    path = write_text(tmp_path / "multi.csv", "text,label,split\n" + swallowed)
    with pytest.raises(DataError, match="line 3.*check_multiline"):
        load_data(load_config(None, ["data.source=imdb", f"data.path={path}"]).data)
    # ... unless check_multiline = false trusts it.
    cfg = load_config(None, ["data.source=imdb", f"data.path={path}", "data.check_multiline=false"])
    assert load_data(cfg.data).texts == ["Loved it", "So-so.\nBad,neg,train\nok", "Fine"]


def test_csv_wrong_number_of_fields_names_the_line(tmp_path):
    path = write_text(tmp_path / "ragged.csv", "text,label,split\nok,pos,train\nno,neg\n")
    with pytest.raises(DataError, match=r"ragged\.csv line 3: expected 3 fields.*got 2 fields"):
        D.imdb(path)


def test_packaged_sample():
    from importlib import resources

    data = resources.files("padless").joinpath(D.IMDB_SAMPLE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == D.IMDB_SAMPLE_SHA256
    assert len(data) < 1_500_000
    ds = D.imdb_sample()
    assert len(ds) == 2500 and ds.skipped == {}
    assert Counter(zip(ds.splits, ds.labels, strict=True)) == {
        ("train", "neg"): 1000,
        ("train", "pos"): 1000,
        ("test", "neg"): 250,
        ("test", "pos"): 250,
    }
    assert all(t.strip() for t in ds.texts)


@pytest.mark.skipif(not SHARED_IMDB.is_file(), reason="shared IMDB CSV not available")
def test_shared_imdb_csv():
    ds = D.imdb(SHARED_IMDB)
    assert len(ds) == 50_000
    assert Counter(ds.splits) == {"train": 25_000, "test": 25_000}
    assert Counter(zip(ds.splits, ds.labels, strict=True)) == {
        (s, lab): 12_500 for s in ("train", "test") for lab in ("neg", "pos")
    }
    sample = set(zip(*(D.imdb_sample().texts, D.imdb_sample().labels), strict=True))
    assert sample <= set(zip(ds.texts, ds.labels, strict=True))  # sample comes from it
