"""Where prepared splits are cached, what a cached store is keyed by, and one builder per key.

A store (:mod:`padless.encode.store`) holds the encoded train / valid / test splits of one
data set read one way. :func:`store_key` names it: a sha256 over the padless version, the
store format, every ``[data]`` and ``[text]`` setting that changes what is read or how it is
encoded (not ``data.cache`` / ``data.cache_dir`` / ``data.encode_workers``, which only say
where the store is and how many processes build it), ``train.seed`` (it draws the validation
rows) and the **content** sha256 of every data file read. A second run on
the same data with the same settings finds the store and starts training without reading or
encoding anything; an edited file, another tokenizer or another seed is another key.

Hashing a 1 GB file costs about 0.7 s (sha256, 1.45 GB/s on this machine), so a file's hash is
memoised under ``<cache>/fingerprints/``, keyed by its path, size, modification time (ns),
inode and change time: a file rewritten in any way that changes one of them is hashed again.
(A file modified in place with all five forged back is not noticed; nothing else is.)

The cache lives in ``data.cache_dir``, else ``$PADLESS_CACHE``, else ``~/.cache/padless``
(the same root as the IMDB download), under ``stores/<key>/``. :func:`store_lock` holds an
exclusive ``flock`` on ``stores/<key>.lock`` while a process checks, builds or replaces a
store, so two runs on the same data build it once: the second waits, then opens what the first
published. A store appears by renaming a finished directory into place, never half written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from padless.config import Config

__all__ = ["FORMAT_VERSION", "cache_root", "data_files", "store_key", "store_lock"]

logger = logging.getLogger(__name__)

#: Bumped whenever the layout or the meaning of a stored column changes.
FORMAT_VERSION = 1
_NOT_KEYED = ("cache", "cache_dir", "encode_workers")  # how, not what the store holds


def cache_root(cfg: Config) -> Path:
    """``data.cache_dir``, else ``$PADLESS_CACHE``, else ``~/.cache/padless``."""
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir).expanduser()
    from padless.data.imdb import default_cache_dir

    return default_cache_dir()


def data_files(cfg: Config) -> list[Path] | None:
    """The files the config's source reads (sorted, absolute), or None when they cannot be
    named before reading (an IMDB download not yet made)."""
    d = cfg.data
    if d.source == "imdb-sample":
        from importlib import resources

        from padless.data.imdb import IMDB_SAMPLE

        return [Path(str(resources.files("padless").joinpath(IMDB_SAMPLE))).resolve()]
    if d.source == "imdb" and d.path is None:
        from padless.data.imdb import IMDB_FILENAME, default_cache_dir

        tarball = default_cache_dir() / "datasets" / "imdb" / IMDB_FILENAME
        return [tarball.resolve()] if tarball.is_file() else None
    files: list[Path] = []
    for given in (d.path, d.test_path):
        if given is not None:
            files.extend(_files_under(Path(given).expanduser()))
    return sorted(set(files))


def _files_under(path: Path) -> list[Path]:
    """A file; every file under a folder; or the files a ``Name`` prefix starts (UEA pairs)."""
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        return [p.resolve() for p in path.rglob("*") if p.is_file()]
    return [p.resolve() for p in path.parent.glob(path.name + "*") if p.is_file()]


def store_key(cfg: Config, files: list[Path], root: Path) -> str:
    """The sha256 naming the store of ``cfg``'s data read from ``files`` (see the module
    docstring for what counts)."""
    from padless import __version__

    data = {k: v for k, v in asdict(cfg.data).items() if k not in _NOT_KEYED}
    what = {
        "format": FORMAT_VERSION,
        "padless": __version__,
        "data": data,
        "text": asdict(cfg.text),
        "seed": cfg.train.seed,
        "files": [[str(f), fingerprint(f, root)] for f in files],
    }
    if cfg.data.limit is not None:
        # data.limit draws per split (once one draw over all rows, ignored when streamed): a
        # store an older padless built with the same settings holds other rows; never reuse it
        what["limit"] = "per split"
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def fingerprint(path: Path, root: Path) -> str:
    """The sha256 of a file's content, memoised by its identity (module docstring)."""
    st = path.stat()
    ident = [str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
    memo = root / "fingerprints" / (hashlib.sha256(str(path).encode()).hexdigest() + ".json")
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(memo.read_text(encoding="utf-8"))
        if saved.get("ident") == ident and isinstance(saved.get("sha256"), str):
            return str(saved["sha256"])
    from padless.data.imdb import sha256_file

    digest = sha256_file(path)
    with contextlib.suppress(OSError):  # a read-only cache only costs the next run a hash
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"ident": ident, "sha256": digest}), encoding="utf-8")
        os.replace(tmp, memo)
    return digest


@contextlib.contextmanager
def store_lock(directory: Path) -> Iterator[None]:
    """Hold the exclusive lock of the store ``directory`` (``<directory>.lock``), waiting for
    another process that holds it (it is building that store)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock = directory.with_name(directory.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another run that is preparing %s", directory)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def describe(meta: dict[str, Any]) -> str:
    """One line about a store's content, for the log."""
    counts = meta.get("counts", {})
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "empty"
