"""IMDB sentiment (Maas et al. 2011, Large Movie Review Dataset): download, cache and parse.

The data comes back as a :class:`~padless.data.dataset.TextDataset` with labels
``neg`` / ``pos``, splits ``train`` / ``test`` and the texts unchanged (``<br />`` tags are kept;
cleaning happens in :mod:`padless.encode.text`). :func:`imdb` reads the official tarball
(streamed, never extracted to disk), an extracted ``aclImdb/`` folder or a ``text,label,split``
CSV; with no path it downloads the tarball once into a cache (:func:`default_cache_dir`) and
verifies its sha256 (:func:`download` never leaves a partial file behind).
:func:`imdb_sample` loads the 2,500-review sample shipped with the package (no network).
Unsafe or non-regular tarball members are skipped and counted in ``dataset.skipped``.

A CSV is streamed through the strict table parser
(:class:`padless.data.delimited.DelimitedReader`): a malformed row (an unclosed quote, a wrong
number of fields) is never merged with the next one; it raises naming the file and line or,
with ``skip_bad_rows=True``, is skipped, counted in ``dataset.skipped["bad_rows"]`` and logged
with its line.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import partial
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO, Any

from padless.data.dataset import TextDataset
from padless.data.delimited import BadRows, DelimitedReader
from padless.errors import data_error
from padless.progress import show_bars

logger = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"


IMDB_FILENAME = "aclImdb_v1.tar.gz"


#: Packaged sample (path inside the ``padless`` package) and its sha256; see resources/README.md.
IMDB_SAMPLE = "resources/imdb-sample.csv.gz"


IMDB_SAMPLE_SHA256 = "29c1079c9db2b4fdbd1a48a28f73b136cdb404cc242e49b898f7e70d9912b419"


IMDB_SPLITS = ("train", "test")


IMDB_LABELS = ("neg", "pos")


_REVIEW_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


_CHUNK = 1 << 20


_GET_IT = (
    f"download {IMDB_URL} yourself and pass imdb(path=...) to it, or pass path= to a local "
    "copy (an extracted aclImdb/ folder or a text,label,split CSV such as imdb.csv.gz)"
)


# --------------------------------------------------------------------------- cache + download
def default_cache_dir() -> Path:
    """``$PADLESS_CACHE`` if set, else ``~/.cache/padless``."""
    env = os.environ.get("PADLESS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "padless"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(partial(f.read, _CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _urlopen(url: str, timeout: float) -> Any:
    if urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
        # never send loopback requests through an environment proxy
        return urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, None, timeout)
    return urllib.request.urlopen(url, timeout=timeout)


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` via a temporary file in the same folder, check ``sha256``
    (skipped when None) and atomically rename into place. Nothing is left behind on failure."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h, err = hashlib.sha256(), partial(data_error, f"download {url}")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with _urlopen(url, timeout) as resp:
                    size = resp.headers.get("Content-Length")
                    total = int(size) if size and size.isdigit() else None
                    bars = progress and show_bars()
                    kw = dict(unit="B", unit_scale=True, desc=dest.name, disable=not bars)
                    with tqdm(total=total, **kw) as bar:
                        for chunk in iter(partial(resp.read, _CHUNK), b""):
                            out.write(chunk)
                            h.update(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    reason: object = f"HTTP {e.code} {e.reason}"
                else:
                    reason = getattr(e, "reason", None) or e
                got = f"{type(e).__name__}: {reason}"
                fix = "check the URL and your network, or " + _GET_IT
                raise err("a reachable URL serving the file", got, fix) from e
            out.flush()
            os.fsync(out.fileno())
        if sha256 is not None and h.hexdigest() != sha256.lower():
            got = f"sha256 {h.hexdigest()} (the file was deleted)"
            fix = "the download is corrupt or another file; retry, check the URL, or pass sha256="
            raise err(f"sha256 {sha256.lower()}", got, fix + " matching the file you trust")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    logger.info("downloaded %s to %s (sha256 %s)", url, dest, h.hexdigest())
    return dest


def _cached_imdb(
    url: str,
    sha256: str | None,
    cache_dir: str | os.PathLike | None,
    download_: bool,
    progress: bool,
) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest, sha256 = root / "datasets" / "imdb" / IMDB_FILENAME, sha256 and sha256.lower()
    if dest.is_file():
        if sha256 is not None and (got := sha256_file(dest)) != sha256:
            fix = f"delete {dest} and call imdb() again to re-download it"
            raise data_error(f"cached file {dest}", f"sha256 {sha256}", f"sha256 {got}", fix)
        logger.info("using cached %s", dest)
        return dest
    if not download_:
        fix = f"call imdb(download=True, cache_dir=...), put {IMDB_FILENAME} at {dest}, or "
        where, expected = "imdb(download=False)", f"a cached copy at {dest}"
        raise data_error(where, expected, "no such file", fix + _GET_IT)
    if sha256 is None:
        logger.warning("downloading %s without a sha256 to check it against", url)
    logger.info("downloading %s to %s", url, dest)
    return download(url, dest, sha256=sha256, progress=progress)


# --------------------------------------------------------------------------- IMDB readers
def imdb(
    path: str | os.PathLike | None = None,
    *,
    url: str = IMDB_URL,
    sha256: str | None = IMDB_SHA256,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    splits: Iterable[str] = IMDB_SPLITS,
    progress: bool = True,
    skip_empty: bool = False,
    skip_bad_rows: bool = False,
    check_multiline: bool = True,
) -> TextDataset:
    """Load IMDB from ``path`` (tarball, ``aclImdb/`` folder or its parent, CSV) or, with None,
    from the cache (downloaded first if missing and ``download``).

    Tarball / folder rows are sorted by split (train first), label (neg first) and review id; CSV
    rows keep file order. Empty texts raise unless ``skip_empty`` (counted as ``empty_text``);
    symlinks and other non-regular files are skipped and counted in ``dataset.skipped``.
    A malformed CSV row raises naming its line unless ``skip_bad_rows`` (counted as
    ``bad_rows``); ``check_multiline=False`` trusts quoted fields that span lines (see
    :mod:`padless.data.delimited`).
    """
    wanted = _check_splits(splits)
    if path is None:
        path = _cached_imdb(url, sha256, cache_dir, download, progress)
    path = Path(path).expanduser()
    name, where = path.name.lower(), f"imdb(path={str(path)!r})"
    if not path.exists():
        raise data_error(where, "an existing file or folder", "no such path", _GET_IT)
    if path.is_file() and name.endswith((".csv", ".csv.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        bad = BadRows() if skip_bad_rows else None
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            ds = _read_imdb_csv(f, str(path), wanted, skip_empty, bad, check_multiline)
    elif path.is_dir() or name.endswith(_TAR_SUFFIXES) or tarfile.is_tarfile(path):
        ds = _read_imdb_files(path, wanted, skip_empty)
    else:
        expected = "an aclImdb tarball (.tar.gz), an aclImdb/ folder or a .csv/.csv.gz file"
        got = f"a file named {path.name!r} of unknown format"
        raise data_error(where, expected, got, "rename the file to its real extension")
    counts = dict(Counter(zip(ds.splits, ds.labels, strict=True)))
    logger.info("loaded %d IMDB reviews from %s: %s", len(ds), ds.source, counts)
    return ds


def imdb_sample() -> TextDataset:
    """The packaged IMDB sample: 2,000 train + 500 test reviews, balanced (see resources/README)."""
    res = resources.files("padless").joinpath(IMDB_SAMPLE)
    with res.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8-sig", newline="") as f:
        return _read_imdb_csv(f, f"padless:{IMDB_SAMPLE}", IMDB_SPLITS, skip_empty=False)


def _check_splits(splits: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys((splits,) if isinstance(splits, str) else splits))
    if not wanted or any(s not in IMDB_SPLITS for s in wanted):
        expected, fix = (
            f"a non-empty subset of {IMDB_SPLITS}",
            "pass splits=('train',) or ('test',)",
        )
        raise data_error("imdb(splits=...)", expected, repr(wanted), fix)
    return wanted


class _Rows:
    """Collects ``(sort key, text, label, split)`` rows, applying the empty-text rule."""

    def __init__(self, source: str, skip_empty: bool) -> None:
        self.source, self.skip_empty = source, skip_empty
        self.rows: list[tuple] = []
        self.skipped: Counter[str] = Counter()
        self.groups: set[tuple] = set()  # (split, label) and (split, None) seen, even if skipped

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        logger.warning("%s: skipped %s", self.source, what)

    def add(self, key: tuple | int, text: str, label: str, split: str, where: str) -> None:
        self.groups |= {(split, label), (split, None)}
        if text.strip():
            self.rows.append((key, text, label, split))
        elif self.skip_empty:
            self.skipped["empty_text"] += 1
        else:
            fix = "remove the row or pass imdb(..., skip_empty=True) to skip and count it"
            raise data_error(where, "a non-empty review text", "an empty (or blank) text", fix)

    def dataset(
        self, wanted: tuple[str, ...], layout: str, labels: tuple[str | None, ...] = IMDB_LABELS
    ) -> TextDataset:
        """Rows sorted by key; raises when a wanted split (and label) had no row at all."""
        for split, label in ((s, lab) for s in wanted for lab in labels):
            if (split, label) not in self.groups:
                fix = "use the complete data, or pass splits=(...) with the splits you have"
                raise data_error(self.source, layout.format(split=split, label=label), "none", fix)
        rows = sorted(self.rows, key=lambda r: r[0])
        texts, labels_, splits = ([r[i] for r in rows] for i in (1, 2, 3))
        return TextDataset(texts, labels_, splits, source=self.source, skipped=dict(self.skipped))


def _add_reviews(rows: _Rows, members: Iterator[tuple], wanted: tuple[str, ...]) -> None:
    """Add ``(split, label, file name, where, read)`` review files; others are ignored."""
    seen: dict[tuple, str] = {}
    for split, label, fname, where, read in members:
        if split not in wanted or label not in IMDB_LABELS or not fname.endswith(".txt"):
            continue
        if not (m := _REVIEW_NAME.match(fname)):
            fix = "remove the stray file or use an unmodified aclImdb copy"
            raise data_error(where, "a review file named <id>_<rating>.txt", repr(fname), fix)
        key = (IMDB_SPLITS.index(split), IMDB_LABELS.index(label), int(m.group(1)))
        if key in seen:
            got = f"a second file with review id {key[2]} (first: {seen[key]})"
            raise data_error(where, "each review once", got, "use an unmodified aclImdb copy")
        seen[key], data = where, read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            got = f"invalid byte 0x{data[e.start]:02x} at byte offset {e.start}"
            raise data_error(where, "UTF-8 text", got, "re-download or repair the file") from e
        rows.add(key, text, label, split, where)


def _tar_members(path: Path, tf: tarfile.TarFile, rows: _Rows) -> Iterator[tuple]:
    for m in tf:  # streamed: members are never written to disk
        parts = PurePosixPath(m.name).parts
        if m.name.startswith("/") or ".." in parts:
            rows.skip("unsafe_path", f"member with unsafe path {m.name!r}")
        elif not (m.isreg() or m.isdir()):
            rows.skip("non_regular_member", f"non-regular member {m.name!r}")
        elif m.isreg() and len(parts) == 4 and parts[0] == "aclImdb":
            yield *parts[1:], f"{path} member {m.name!r}", tf.extractfile(m).read  # type: ignore[union-attr]


def _dir_members(root: Path, rows: _Rows, wanted: tuple[str, ...]) -> Iterator[tuple]:
    for split, label in ((s, lab) for s in wanted for lab in IMDB_LABELS):
        folder = root / split / label
        for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
            if entry.is_file(follow_symlinks=False):
                yield split, label, entry.name, entry.path, Path(entry.path).read_bytes
            elif not entry.is_dir(follow_symlinks=False):
                rows.skip("non_regular_member", f"non-regular file {entry.path}")


def _read_imdb_files(path: Path, wanted: tuple[str, ...], skip_empty: bool) -> TextDataset:
    """An aclImdb tarball (streamed) or extracted folder (or its parent)."""
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        rows = _Rows(str(root), skip_empty)
        _add_reviews(rows, _dir_members(root, rows, wanted), wanted)
        return rows.dataset(wanted, f"review files under {root}/{{split}}/{{label}}/")
    rows = _Rows(str(path), skip_empty)
    try:
        with tarfile.open(path, mode="r|*") as tf:
            _add_reviews(rows, _tar_members(path, tf, rows), wanted)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        got, fix = f"{type(e).__name__}: {e}", "re-download the file (it is truncated or corrupt)"
        raise data_error(str(path), "a readable aclImdb tar archive", got, fix) from e
    return rows.dataset(wanted, "review files under aclImdb/{split}/{label}/ in the tarball")


def _raise_csv_field_limit() -> None:
    limit = sys.maxsize
    while csv.field_size_limit() < limit:
        try:
            csv.field_size_limit(limit)
        except OverflowError:  # C long is 32 bits on some platforms
            limit //= 2


_SKIP_HINT = (
    "; or pass imdb(..., skip_bad_rows=True) (data.skip_bad_rows = true) to skip and count it"
)


def _read_imdb_csv(
    f: IO[str],
    source: str,
    wanted: tuple[str, ...],
    skip_empty: bool,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
) -> TextDataset:
    """A CSV with columns ``text``, ``label`` and ``split`` (any order), streamed from ``f``
    (opened with ``newline=""``) through the strict parser; rows keep file order. A malformed
    row raises, or with ``bad_rows`` is skipped and recorded there."""
    _raise_csv_field_limit()
    rows = _Rows(source, skip_empty)
    try:
        reader = DelimitedReader(
            f, source, "csv", bad_rows=bad_rows, check_multiline=check_multiline, hint=_SKIP_HINT
        )
        header = reader.header
        if missing := [c for c in ("text", "label", "split") if c not in header]:
            got, fix = f"columns {header}", f"add or rename the column(s) {missing}"
            raise data_error(f"{source} header", "columns text, label, split", got, fix)
        ti, li, si = (header.index(c) for c in ("text", "label", "split"))
        for i, (line, rec) in enumerate(reader, start=1):  # blank lines hold no row
            where = f"{source} data row {i} (line {line})"
            for col, j, allowed in (("label", li, IMDB_LABELS), ("split", si, IMDB_SPLITS)):
                if rec[j].strip() not in allowed:
                    where_col, expected = f"{where}, column '{col}'", f"one of {allowed}"
                    raise data_error(where_col, expected, repr(rec[j]), f"fix the {col}")
            if rec[si].strip() in wanted:
                rows.add(i, rec[ti], rec[li].strip(), rec[si].strip(), f"{where}, column 'text'")
    except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        expected, got = "a UTF-8 CSV (optionally gzip-compressed)", f"{type(e).__name__}: {e}"
        raise data_error(source, expected, got, "repair, re-encode or re-download it") from e
    if bad_rows is not None and bad_rows.count:
        rows.skipped["bad_rows"] += bad_rows.count
        logger.warning("%s: %s (data.skip_bad_rows = true)", source, bad_rows)
    return rows.dataset(wanted, "rows with split '{split}'", labels=(None,))
