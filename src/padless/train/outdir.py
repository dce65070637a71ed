"""The output directory of a training run (``padless train --out DIR``): claimed, checked and
written so that no run's outputs are lost or left half written.

A run directory holds one training run. :func:`claim` is how a run takes it, on rank 0 only;
every rank then shares rank 0's verdict, so a refusal under torchrun fails all ranks at once
instead of leaving the others waiting in a collective:

* ``DIR/.padless-train.lock`` is locked with ``flock`` for the whole run, and holds the pid. A
  second training into DIR is refused at once, naming that pid. The kernel drops the lock when
  the process ends, killed or not, so a crashed run never leaves DIR locked.
* DIR must be writable: a probe file is created and deleted before anything is trained.
* A DIR that already holds a run (:func:`run_files`: ``model/``, ``metrics.json`` or a
  checkpoint) is refused unless ``resume`` (continue it) or ``overwrite`` (remove its outputs
  first). An empty or new DIR, or one whose run died before its first checkpoint, is fine.

While the run writes, :func:`check_space` refuses a write that cannot fit before it starts and
:func:`writing` turns a full disk, a file-size limit or a read-only / permission-denied path
into a :class:`~padless.errors.TrainingError` naming the path and the bytes needed and free.
:func:`staged_dir` builds a directory (the model artifact) beside its place and renames it in
only when complete, so ``DIR/model`` is a whole artifact or absent (or the previous whole one);
:func:`write_text` does the same for one file. A run killed between the two renames of a
replacement leaves the previous artifact aside; the next :func:`claim` puts it back.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import IO

from padless.errors import ConfigError, PadlessError, TrainingError, config_error, format_error
from padless.train.distributed import World

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows has no flock: runs there are not locked
    fcntl = None

__all__ = [
    "LOCK_FILE",
    "OUTPUTS",
    "check_space",
    "check_writable",
    "fsync_path",
    "replace_whole",
    "claim",
    "run_files",
    "staged_dir",
    "storage_error",
    "write_text",
    "writing",
]

logger = logging.getLogger(__name__)

LOCK_FILE = ".padless-train.lock"
OUTPUTS = (
    "model",
    "checkpoints",
    "metrics.json",
    "metrics.jsonl",
    "report",
    "tensorboard",
    "selection",  # the held-out run that chose the epoch count (padless.train.selection)
)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_DENIED = {errno.EROFS, errno.EACCES, errno.EPERM}
_STORAGE = _FULL | _DENIED | {errno.EIO}
_UNKNOWN = 0  # a write failure whose cause the library hid (torch: "file write failed")
_STAGED = re.compile(r"\.(?P<name>.+)\.(?P<kind>new|old)-[^.]+")


@contextlib.contextmanager
def claim(
    directory: Path, world: World, *, resume: bool = False, overwrite: bool = False
) -> Iterator[None]:
    """Hold ``directory`` for one run (see the module docstring) until the block ends."""
    lock: int | None = None
    error: BaseException | None = None
    if world.main:
        try:
            lock = _claim(directory, resume, overwrite)
        except BaseException as exc:  # every rank must hear the verdict before anyone raises
            error = exc
    verdict = None if error is None else (isinstance(error, ConfigError), str(error))
    shared = world.broadcast(verdict)
    if error is not None:
        raise error
    if shared is not None:
        is_config, message = shared
        raise (ConfigError if is_config else TrainingError)(f"rank 0 refused: {message}")
    try:
        yield
    finally:
        if lock is not None:
            os.close(lock)  # releases the flock


def run_files(directory: Path) -> list[str]:
    """What in ``directory`` is the output of an earlier run worth keeping: ``model/``,
    ``metrics.json``, ``checkpoints/`` or ``selection/`` with a checkpoint file in it (empty
    when none)."""
    found = [n for n in ("model", "metrics.json") if (directory / n).exists()]
    for name in ("checkpoints", "selection"):
        kept = directory / name
        if kept.is_dir() and any(p.suffix == ".pt" and p.is_file() for p in kept.rglob("*")):
            found.append(name)
    return found


def check_writable(directory: Path) -> None:
    """Create, write and delete a probe file in ``directory``, or raise a TrainingError."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".padless-probe-", dir=directory)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise storage_error(directory, "write into it", exc) from None


def check_space(path: Path, need: int, what: str, then: str = "") -> None:
    """Raise a TrainingError when the disk of ``path`` has fewer than ``need`` bytes free for
    ``what`` (e.g. "write checkpoint epoch-0003.pt"); ``then`` ends the fix."""
    free = _free(path)
    if free is None or free >= need:
        return
    fix = (
        f"free at least {need - free:,} bytes on that disk (fewer train.keep_checkpoints also "
        f"helps) or point --out at a bigger one{_then(then)}"
    )
    raise TrainingError(
        format_error(
            str(path), f"{need:,} bytes free to {what}", f"{free:,} bytes free on its disk", fix
        )
    )


@contextlib.contextmanager
def writing(path: Path, what: str, need: int | None = None, then: str = "") -> Iterator[None]:
    """Turn a storage failure (full disk, file-size limit, read-only or denied path, I/O error)
    raised in the block into a TrainingError about ``path``; other errors pass unchanged."""
    try:
        yield
    except PadlessError:
        raise
    except Exception as exc:
        code = _errno_of(exc)
        if code is None:
            raise
        raise storage_error(path, what, exc, need=need, then=then, code=code) from exc


def storage_error(
    path: Path,
    what: str,
    exc: BaseException,
    *,
    need: int | None = None,
    then: str = "",
    code: int | None = None,
) -> TrainingError:
    """The TrainingError for ``exc``, which stopped the run from ``what`` at ``path``."""
    code = _errno_of(exc) if code is None else code
    free = _free(path)
    room = [f"about {need:,} bytes needed"] if need is not None else []
    room += [f"{free:,} bytes free on its disk"] if free is not None else []
    expected = f"room and permission to {what}" + (f" ({'; '.join(room)})" if room else "")
    if code and code in _STORAGE:
        got = f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"
    else:
        got = _one_line(exc)
    if code == errno.EFBIG:
        fix = "raise the file-size limit (ulimit -f), or point --out at a disk that allows it"
    elif code in _DENIED:
        where = path if path.is_dir() else path.parent
        fix = f"make {where} writable (permissions, a read-write mount) or pass another --out"
    else:
        short = f"{need - free:,} more bytes" if need and free is not None and need > free else ""
        fix = (
            f"free {short or 'space'} on that disk (fewer train.keep_checkpoints also helps) "
            "or point --out at a bigger one"
        )
    return TrainingError(format_error(str(path), expected, got, fix + _then(then)))


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A fresh directory beside ``final`` to write into; when the block ends without an error
    its files are synced and it replaces ``final`` (renamed, never copied); on an error it is
    removed and ``final`` is untouched."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0o700 would hide the model from others
        yield tmp
        for p in tmp.rglob("*"):
            if p.is_file():
                fsync_path(p)
        fsync_path(tmp)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old)  # a directory replaces an empty one
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_path(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_whole(path: Path, write: Callable[[IO[bytes]], object], mode: int = 0o666) -> None:
    """Write ``path`` whole or not at all: ``write(f)`` fills a temp file beside it (named
    ``.<name>.*.tmp``), which is fsynced and renamed over ``path`` (``os.replace``); on an error
    the temp file is removed and ``path`` is untouched. ``mode`` is masked by the umask, as
    open() would (mkstemp alone gives 0o600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (see :func:`replace_whole`)."""
    replace_whole(path, lambda f: f.write(text.encode("utf-8")))


def _claim(directory: Path, resume: bool, overwrite: bool) -> int:
    """Rank 0's part of :func:`claim`; returns the locked file descriptor."""
    if resume and overwrite:
        raise config_error(
            "--resume with --overwrite",
            "at most one of them",
            "both",
            "pass --resume to continue the run in --out, or --overwrite to replace it",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(directory, "create the output directory", exc) from None
    check_writable(directory)
    lock = _lock(directory)
    try:
        _recover(directory)
        found = run_files(directory)
        if found and not (resume or overwrite):
            raise config_error(
                str(directory),
                "an empty or new output directory",
                f"the outputs of an earlier run ({', '.join(found)})",
                "pass --resume to continue that run, --overwrite to replace it, or another --out",
            )
        if found and overwrite:
            logger.warning("--overwrite: removing the earlier run in %s", directory)
            _remove_outputs(directory)
    except BaseException:
        os.close(lock)
        raise
    return lock


def _lock(directory: Path) -> int:
    """Open and flock ``DIR/.padless-train.lock`` (non-blocking); write this pid into it."""
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise storage_error(path, "create the run's lock file", exc) from None
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise config_error(
            str(directory),
            "an output directory no other training is using",
            f"it is in use by a running training (pid {holder})",
            "wait for that run to end (or stop it), or pass another --out",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _recover(directory: Path) -> None:
    """Undo what a run killed inside :func:`staged_dir` left: put a set-aside previous
    directory back when its replacement never arrived; remove half-written new ones."""
    for p in sorted(directory.iterdir()):
        m = _STAGED.fullmatch(p.name)
        if m is None or not p.is_dir():
            continue
        final = directory / m.group("name")
        if m.group("kind") == "old" and not final.exists():
            os.replace(p, final)
            logger.warning("restored %s, set aside by a run killed while replacing it", final)
        else:
            shutil.rmtree(p, ignore_errors=True)


def _remove_outputs(directory: Path) -> None:
    for name in OUTPUTS:
        p = directory / name
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
        except OSError as exc:
            raise storage_error(p, "remove it (--overwrite)", exc) from None


def _errno_of(exc: BaseException) -> int | None:
    """The storage errno behind ``exc`` (through its causes and libraries' messages), 0 for a
    write failure of unknown cause, None when ``exc`` is no storage failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _STORAGE:
            return seen.errno
        m = re.search(r"(?:\[Errno |Os \{ code: )(\d+)", str(seen))
        if m and int(m.group(1)) in _STORAGE:
            return int(m.group(1))
        if "file write failed" in str(seen):  # torch's writer: the cause is in its context
            inner = seen.__context__
            return (_errno_of(inner) if inner is not None else None) or _UNKNOWN
        seen = seen.__cause__ or seen.__context__
    return None


def _free(path: Path) -> int | None:
    """Free bytes on the disk of ``path`` (or its nearest existing parent)."""
    for p in (path, *path.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


@functools.cache
def _umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush a file or a directory entry to disk where the OS allows (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _then(then: str) -> str:
    return f"; then {then}" if then else ""


def _one_line(exc: BaseException) -> str:
    line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {line[:200]}" if line else type(exc).__name__
