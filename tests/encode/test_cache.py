"""padless.encode.cache: a store's key follows the data's content and every setting that
changes the encoding (and nothing else); file hashes are memoised by file identity; the lock
excludes another process."""

import os
import subprocess
import sys

from padless.config import load_config
from padless.encode.cache import data_files, fingerprint, store_key, store_lock


def _cfg(path, *sets):
    return load_config(None, ["data.source=table", f"data.path={path}", *sets])


def _table(tmp_path, body="text,label\na b,x\nc d,y\n"):
    path = tmp_path / "t.csv"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_key_follows_content_and_encoding_settings_only(tmp_path):
    path, root = _table(tmp_path), tmp_path / "cache"
    base = store_key(_cfg(path), data_files(_cfg(path)), root)
    assert store_key(_cfg(path), data_files(_cfg(path)), root) == base
    same = [
        "data.cache_dir=/elsewhere",
        "data.cache=false",
        "train.epochs=7",
        "model.hidden_size=3",
    ]
    for s in same:
        cfg = _cfg(path, s)
        assert store_key(cfg, data_files(cfg), root) == base, s
    changed = ["text.max_size=50", "text.lowercase=false", "train.seed=3", "data.limit=1"]
    for s in changed:
        cfg = _cfg(path, s)
        assert store_key(cfg, data_files(cfg), root) != base, s
    path.write_text("text,label\na b,x\nc e,y\n", encoding="utf-8")  # same size, new content
    assert store_key(_cfg(path), data_files(_cfg(path)), root) != base


def test_a_copy_of_the_data_has_the_same_fingerprint(tmp_path):
    a = _table(tmp_path)
    b = tmp_path / "copy.csv"
    b.write_bytes(a.read_bytes())
    assert fingerprint(a, tmp_path) == fingerprint(b, tmp_path)


def test_fingerprints_are_memoised_by_file_identity(tmp_path):
    path, root = _table(tmp_path), tmp_path / "cache"
    first = fingerprint(path, root)
    assert len(list((root / "fingerprints").iterdir())) == 1
    st = path.stat()
    # Same size and times but other bytes: the memo answers (the documented limit) ...
    path.write_text("text,label\na b,x\nc e,y\n", encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    if path.stat().st_ctime_ns == st.st_ctime_ns:  # ctime moves on a write on most systems
        assert fingerprint(path, root) == first
    # ... any change of the modification time hashes again.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fingerprint(path, root) != first


def test_data_files_name_folders_prefixes_and_the_sample(tmp_path):
    (tmp_path / "ds").mkdir()
    for name in ("X_TRAIN.ts", "X_TEST.ts", "other.txt"):
        (tmp_path / "ds" / name).write_text("x")
    ts = load_config(None, ["data.source=ts", f"data.path={tmp_path / 'ds' / 'X'}"])
    assert [p.name for p in data_files(ts)] == ["X_TEST.ts", "X_TRAIN.ts"]
    folder = load_config(None, ["data.source=ts", f"data.path={tmp_path / 'ds'}"])
    assert len(data_files(folder)) == 3
    sample = data_files(load_config(None, ["data.source=imdb-sample"]))
    assert sample[0].name == "imdb-sample.csv.gz" and sample[0].is_file()


def test_the_store_lock_excludes_another_process(tmp_path):
    directory = tmp_path / "stores" / "abc"
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n    print('held')\nelse:\n    print('free')\n"
    )
    lock = str(directory.with_name("abc.lock"))
    with store_lock(directory):
        held = subprocess.run([sys.executable, "-c", probe, lock], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", probe, lock], capture_output=True, text=True)
    assert (held.stdout.strip(), free.stdout.strip()) == ("held", "free")
