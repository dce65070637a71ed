"""padless.encode.store: split files round-trip every input and target kind across record
batches, read lazily from a memory map; a store whose files differ from its list is refused;
a file is hashed again only when its stat identity moved off its stamp (padless.encode.stamps).
"""

import json
import os
import shutil
import time

import numpy as np
import pytest

import padless.data.imdb as imdb
from padless.encode.cache import FORMAT_VERSION
from padless.encode.stamps import STAMPS
from padless.encode.store import (
    SplitWriter,
    StoredSplit,
    StoreError,
    flat_targets,
    load_splits,
    open_store,
    write_meta,
)

RNG = np.random.default_rng(0)


def _inputs(kind, n):
    lengths = RNG.integers(1, 9, size=n)
    if kind == "ids":
        return [RNG.integers(1, 50, size=t).astype(np.int64) for t in lengths]
    if kind == "bigrams":
        return [RNG.integers(0, 50, size=(t, 2)).astype(np.int64) for t in lengths]
    return [RNG.normal(size=(t, 3)).astype(np.float32) for t in lengths]


def _targets(kind, inputs):
    n = len(inputs)
    if kind == "class":
        return [int(v) for v in RNG.integers(0, 4, size=n)]
    if kind == "value":
        return [float(v) for v in RNG.normal(size=n)]
    if kind == "values":
        return [RNG.normal(size=2) for _ in range(n)]
    if kind == "classes":  # multi-hot over 4 classes, some rows with none
        return [(RNG.random(4) < 0.4).astype(np.float32) for _ in range(n)]
    return [RNG.integers(0, 5, size=len(x)).astype(np.int64) for x in inputs]


def _write(path, inputs, targets, kind, chunk):
    first = inputs[0]
    writer = SplitWriter(
        path,
        x_float=first.dtype.kind == "f",
        width=1 if first.ndim == 1 else first.shape[1],
        y_kind=kind,
    )
    for s in range(0, len(inputs), chunk):
        xs = inputs[s : s + chunk]
        rows = np.arange(s, s + len(xs)) * 10  # dataset rows, not positions
        lengths = np.array([len(x) for x in xs])
        flat = np.concatenate([x.reshape(-1) for x in xs])
        writer.write(rows, lengths, flat, flat_targets(targets[s : s + chunk], kind))
    writer.close()


@pytest.mark.parametrize("x_kind", ["ids", "bigrams", "features"])
@pytest.mark.parametrize("y_kind", ["class", "value", "values", "classes", "tags"])
def test_split_files_round_trip_across_record_batches(tmp_path, x_kind, y_kind):
    inputs = _inputs(x_kind, 23)
    targets = _targets(y_kind, inputs)
    _write(tmp_path / "train.arrow", inputs, targets, y_kind, chunk=5)
    task = {"classes": "multilabel", "tags": "tagging", "value": "regression"}.get(y_kind, "x")
    split = StoredSplit(tmp_path / "train.arrow", task, num_classes=4)
    assert len(split) == 23
    assert list(split.rows) == [10 * i for i in range(23)]
    np.testing.assert_array_equal(split.lengths(), [len(x) for x in inputs])
    for i, (x, y) in enumerate(split.samples(range(23))):
        np.testing.assert_array_equal(x, inputs[i])
        assert x.dtype == inputs[i].dtype and x.shape == inputs[i].shape
        np.testing.assert_array_equal(np.asarray(y), np.asarray(targets[i]))
    np.testing.assert_array_equal(split.inputs[-1], inputs[-1])
    assert len(split.targets[2:5]) == 3
    with pytest.raises(IndexError):
        split.inputs[23]


def _store(tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    inputs = _inputs("ids", 7)
    _write(d / "train.arrow", inputs, _targets("class", inputs), "class", chunk=3)
    meta = {
        "key": "k",
        "source": "x",
        "counts": {"train": 7},
        "labels": {"task": "multiclass", "classes": list("abcd")},
    }
    write_meta(d, meta)
    return d


def test_a_verified_store_opens(tmp_path):
    d = _store(tmp_path)
    meta = open_store(d, "k")
    assert meta["format"] == FORMAT_VERSION and set(meta["files"]) == {"train.arrow"}
    assert len(load_splits(d, meta)["train"]) == 7


def _flip_a_byte(d):
    path = d / "train.arrow"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(d):
    path = d / "train.arrow"
    path.write_bytes(path.read_bytes()[:-9])


def _bad_json(d):
    (d / "store.json").write_text("{not json", encoding="utf-8")


def _old_format(d):
    meta = json.loads((d / "store.json").read_text())
    meta["format"] = FORMAT_VERSION - 1
    (d / "store.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, why",
    [
        (_flip_a_byte, "sha256"),
        (_truncate, "size"),
        (_bad_json, "unreadable"),
        (_old_format, "format"),
        (lambda d: (d / "extra.bin").write_bytes(b"x"), "differ from the list"),
        (lambda d: (d / "train.arrow").unlink(), "differ from the list"),
        (lambda d: (d / "store.json").unlink(), "unreadable"),
    ],
)
def test_a_damaged_store_is_refused_saying_why(tmp_path, damage, why):
    d = _store(tmp_path)
    damage(d)
    with pytest.raises(StoreError, match=why):
        open_store(d, "k")


def test_a_store_of_another_key_is_refused(tmp_path):
    with pytest.raises(StoreError, match="key"):
        open_store(_store(tmp_path), "other")


def test_a_row_count_differing_from_store_json_is_refused(tmp_path):
    d = _store(tmp_path)
    meta = open_store(d, "k")
    meta["counts"]["train"] = 8
    with pytest.raises(StoreError, match="7 rows, expected 8"):
        load_splits(d, meta)


# ---------------------------------------------------------------------------------------------
# Stamps: a warm open hashes nothing; a changed, copied or unstamped file is hashed again
# ---------------------------------------------------------------------------------------------


def _tick():
    """Let the file-system clock move on (a timestamp tick is at most ~10 ms on Linux)."""
    time.sleep(0.05)


@pytest.fixture
def hashed(monkeypatch):
    """The names of the files sha256 read (a list filled as the test runs)."""
    names = []
    real = imdb.sha256_file

    def counting(path):
        names.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(imdb, "sha256_file", counting)
    return names


def _settled_store(tmp_path):
    """A store whose stamps vouch for every file: built, then opened once after a tick (an open
    re-stamps what was written in the tick of the build's stamps: "racy" files)."""
    d = _store(tmp_path)
    _tick()
    open_store(d, "k")
    return d


def test_a_warm_open_hashes_no_file(tmp_path, hashed):
    d = _settled_store(tmp_path)
    hashed.clear()
    meta = open_store(d, "k")
    assert hashed == [] and len(load_splits(d, meta)["train"]) == 7
    assert (d / STAMPS).is_file() and set(meta["files"]) == {"train.arrow"}  # not listed


def test_the_build_stamps_what_it_hashed(tmp_path, hashed):
    d = _store(tmp_path)
    assert hashed == ["train.arrow"]  # write_meta: one read of each file
    stamps = json.loads((d / STAMPS).read_text())["files"]
    sha = json.loads((d / "store.json").read_text())["files"]["train.arrow"]["sha256"]
    assert stamps["train.arrow"]["sha256"] == sha


@pytest.mark.parametrize("forge_mtime", [False, True])
def test_a_file_changed_in_place_after_its_stamp_is_hashed_and_refused(
    tmp_path, hashed, forge_mtime
):
    d = _settled_store(tmp_path)
    path = d / "train.arrow"
    st = path.stat()
    _tick()
    _flip_a_byte(d)  # same size, same inode
    if forge_mtime:  # the modification time set back: the change time still moves
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    hashed.clear()
    with pytest.raises(StoreError, match="sha256"):
        open_store(d, "k")
    assert hashed == ["train.arrow"]


def test_a_file_changed_in_the_tick_of_its_stamp_is_hashed(tmp_path, hashed):
    d = _store(tmp_path)  # no tick: the build, its stamps and this write may share one
    _flip_a_byte(d)
    with pytest.raises(StoreError, match="sha256"):
        open_store(d, "k")


def test_a_stamp_as_new_as_its_file_vouches_for_nothing(tmp_path, hashed):
    d = _settled_store(tmp_path)
    changed = (d / "train.arrow").stat().st_ctime_ns
    os.utime(d / STAMPS, ns=(changed, changed))  # as if stamped in the tick of the last write
    hashed.clear()
    open_store(d, "k")
    assert hashed == ["train.arrow"]  # "racy": a write later in that tick would not show


def test_a_touched_but_intact_file_is_hashed_once_then_trusted(tmp_path, hashed):
    d = _settled_store(tmp_path)
    _tick()
    os.utime(d / "train.arrow")  # new times, same bytes
    hashed.clear()
    open_store(d, "k")
    assert hashed == ["train.arrow"]
    _tick()
    hashed.clear()
    open_store(d, "k")
    assert hashed == []


def test_a_copied_store_is_verified_in_full_once(tmp_path, hashed):
    d = _settled_store(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(d, copy)  # other inodes: the copied stamps vouch for nothing
    hashed.clear()
    open_store(copy, "k")
    assert hashed == ["train.arrow"]


@pytest.mark.parametrize("damage", ["garbage", "missing", "other sha256"])
def test_unusable_stamps_only_cost_a_hash(tmp_path, hashed, damage):
    d = _settled_store(tmp_path)
    stamps = d / STAMPS
    if damage == "garbage":
        stamps.write_text("{not json", encoding="utf-8")
    elif damage == "missing":
        stamps.unlink()
    else:
        data = json.loads(stamps.read_text())
        data["files"]["train.arrow"]["sha256"] = "0" * 64
        stamps.write_text(json.dumps(data), encoding="utf-8")
    hashed.clear()
    open_store(d, "k")
    assert hashed == ["train.arrow"]


def test_a_store_whose_stamps_cannot_be_written_still_opens(tmp_path, hashed):
    d = _store(tmp_path)
    (d / STAMPS).unlink()
    (d / STAMPS).mkdir()  # replacing it fails: the open goes on, and leaves no temporary file
    for _ in range(2):
        hashed.clear()
        open_store(d, "k")
        assert hashed == ["train.arrow"]
    assert sorted(p.name for p in d.iterdir()) == sorted(["store.json", STAMPS, "train.arrow"])
