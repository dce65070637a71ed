"""Verifying a store's files without re-hashing them on every open: stat stamps.

``store.json`` (:mod:`padless.encode.store`) records the size and sha256 of every file of a
store. Hashing them all on every open made a warm start pay for reading the whole store: ~1 s
for 1.2 GB in the page cache (sha256 at ~1.45 GB/s on a 2-core machine), many seconds from a
cold disk, before the first batch. So, as git's index and the data-file fingerprints of
:mod:`padless.encode.cache` do, a file's sha256 is checked in full once (when the store is
written: :func:`digest_and_stamp`, or when an open finds it changed) and its **stat identity**
at that moment (size, modification and change times in ns, inode, device) is stamped into
``verified.json`` beside ``store.json``. A later open (:func:`check_files`) trusts a file whose
identity still equals its stamp, and hashes any other in full.

What that notices: any write to a file moves its change time (and a truncation or an append
its size), which a process cannot set back; a replaced, copied or restored file has another
inode or change time. So a store damaged in place by a write, a partial copy or another
process's file is hashed again and, if its content differs, refused and rebuilt. What it does
not notice: damage below the file system (bit rot, a raw write to the disk), and a write that
lands in the same timestamp tick as the file's previous change while its stamp is being taken
(a file still being written as it is verified; store files are written once, in a hidden
directory, under the store's lock). Like git's "racy" index entries, a stamp vouches for a
file only when the file's times are strictly older than ``verified.json``'s own modification
time (both from the same file-system clock): a file changed in the tick its stamp was written
is hashed once more on the next open, then stamped for good.

``verified.json`` is rewritten (atomically) only after an open hashed some file; a read-only
store works, hashing the unstamped files each time.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["STAMPS", "check_files", "digest_and_stamp", "listed_files"]

STAMPS = "verified.json"


def listed_files(directory: Path) -> dict[str, Path]:
    """The files ``store.json`` lists, by name relative to ``directory``: every file but
    ``store.json`` and the stamps (with their temporary files)."""
    return {
        str(p.relative_to(directory)): p
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "store.json" and not p.name.startswith(STAMPS)
    }


def digest_and_stamp(directory: Path, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """``{name: {"size", "sha256"}}`` of ``files`` (the content ``store.json`` records), read
    from disk now; stamps each file's identity as verified."""
    digests, stamps = {}, {}
    for name, path in files.items():
        digest, ident = _hash(path)
        digests[name] = {"size": path.stat().st_size, "sha256": digest}
        if ident is not None:
            stamps[name] = {"ident": ident, "sha256": digest}
    _write(directory, stamps)
    return digests


def check_files(directory: Path, files: dict[str, Any]) -> str | None:
    """What is wrong with the ``files`` of ``directory`` (``{name: {"size", "sha256"}}`` as
    recorded), or None: each file's size, and its sha256 unless its stamp vouches for it.
    When some file was hashed and all are right, the identities are stamped again."""
    stamps, stamped_ns = _read(directory)
    fresh: dict[str, Any] = {}
    hashed = False
    for name, want in files.items():
        path = directory / name
        ident = _identity(path)
        if ident[0] != want.get("size"):
            return f"{name}: size {ident[0]}, expected {want.get('size')}"
        if _vouches(stamps.get(name), ident, want.get("sha256"), stamped_ns):
            fresh[name] = stamps[name]
            continue
        digest, now = _hash(path)
        hashed = True
        if digest != want.get("sha256"):
            return f"{name}: sha256 differs from the recorded one (corrupt)"
        if now is not None:
            fresh[name] = {"ident": now, "sha256": digest}
    if hashed:
        _write(directory, fresh)
    return None


def _vouches(stamp: Any, ident: list[int], sha256: Any, stamped_ns: int) -> bool:
    """Whether ``stamp`` vouches for a file of identity ``ident`` recorded with ``sha256``:
    the same identity and hash, and not racy (both file times older than the stamps file)."""
    return (
        isinstance(stamp, dict)
        and stamp.get("ident") == ident
        and stamp.get("sha256") == sha256
        and max(ident[1], ident[2]) < stamped_ns
    )


def _identity(path: Path) -> list[int]:
    """What a write to ``path`` changes: size, modification and change times (ns), inode and
    device."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _hash(path: Path) -> tuple[str, list[int] | None]:
    """(sha256, identity) of a file; the identity is None when the file changed while it was
    read, so that the hash vouches for no identity."""
    from padless.data.imdb import sha256_file

    before = _identity(path)
    digest = sha256_file(path)
    return digest, before if _identity(path) == before else None


def _write(directory: Path, stamps: dict[str, Any]) -> None:
    """Replace ``verified.json`` atomically; on a read-only store, leave it (later opens hash
    the files it does not vouch for)."""
    tmp = directory / f"{STAMPS}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps({"files": stamps}), encoding="utf-8")
        os.replace(tmp, directory / STAMPS)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _read(directory: Path) -> tuple[dict[str, Any], int]:
    """(the stamps of ``verified.json``, its modification time in ns); ({}, 0) when it is
    missing or unreadable, so that every file is hashed."""
    path = directory / STAMPS
    try:
        stamped_ns = path.stat().st_mtime_ns
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}, 0
    return (files, stamped_ns) if isinstance(files, dict) else ({}, 0)
