"""Ready-made datasets: IMDB sentiment (download, cache, parse) and seeded synthetic tasks.

IMDB (Maas et al. 2011, Large Movie Review Dataset) comes back as a :class:`TextDataset` with
labels ``"neg"``/``"pos"`` and splits ``"train"``/``"test"``; texts are unchanged (the raw
``<br />`` tags are kept, cleaning happens elsewhere). :func:`imdb` reads the official tarball
(streamed, never extracted to disk), an extracted ``aclImdb/`` directory or a ``text,label,split``
CSV; with no path it downloads the tarball once into a cache and verifies its sha256.
:func:`imdb_sample` loads a 2,500-review sample shipped with the package (no network needed).

Synthetic tasks are deterministic functions of ``seed`` (same seed, same data):

* :func:`sum_mod` - classify the sum of a variable-length digit sequence modulo ``k``.
* :func:`adding_problem` - the adding problem of Hochreiter & Schmidhuber (regression).
* :func:`make_splits` - train/valid/test sets of one task with seeds derived from one ``seed``.
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
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from padless.data import SequenceDataset, TextDataset
from padless.errors import data_error

logger = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_FILENAME = "aclImdb_v1.tar.gz"
#: Packaged sample (path inside the ``padless`` package) and its sha256; see resources/README.md.
IMDB_SAMPLE = "resources/imdb-sample.csv.gz"
IMDB_SAMPLE_SHA256 = "29c1079c9db2b4fdbd1a48a28f73b136cdb404cc242e49b898f7e70d9912b419"

IMDB_SPLITS = ("train", "test")
IMDB_LABELS = ("neg", "pos")
_CSV_COLUMNS = ("text", "label", "split")
_REVIEW_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _urlopen(url: str, timeout: float):
    host = urllib.parse.urlsplit(url).hostname
    if host in _LOOPBACK:  # never send loopback requests through an environment proxy
        return urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            url, timeout=timeout
        )
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
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with _urlopen(url, timeout) as resp:
                    total = resp.headers.get("Content-Length")
                    from tqdm.auto import tqdm

                    with tqdm(
                        total=int(total) if total and total.isdigit() else None,
                        unit="B",
                        unit_scale=True,
                        desc=dest.name,
                        disable=not progress,
                    ) as bar:
                        for chunk in iter(lambda: resp.read(_CHUNK), b""):
                            out.write(chunk)
                            h.update(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    reason = f"HTTP {e.code} {e.reason}"
                else:
                    reason = getattr(e, "reason", None) or e
                raise data_error(
                    f"download {url}",
                    "a reachable URL serving the file",
                    f"{type(e).__name__}: {reason}",
                    "check the URL and your network, or " + _GET_IT,
                ) from e
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise data_error(
                f"download {url}",
                f"sha256 {sha256.lower()}",
                f"sha256 {got} (the file was deleted)",
                "the download is corrupt or a different file; retry, check the URL, or pass "
                "sha256= matching the file you trust",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("downloaded %s to %s (sha256 %s)", url, dest, got)
    return dest


def _cached_imdb(
    url: str, sha256: str | None, cache_dir: str | os.PathLike | None, download_: bool, progress
) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest = root / "datasets" / "imdb" / IMDB_FILENAME
    if dest.is_file():
        if sha256 is not None:
            got = sha256_file(dest)
            if got != sha256.lower():
                raise data_error(
                    f"cached file {dest}",
                    f"sha256 {sha256.lower()}",
                    f"sha256 {got}",
                    f"delete {dest} and call imdb() again to re-download it",
                )
        logger.info("using cached %s", dest)
        return dest
    if not download_:
        raise data_error(
            "imdb(download=False)",
            f"a cached copy at {dest}",
            "no such file",
            f"call imdb(download=True, cache_dir=...), put {IMDB_FILENAME} at {dest}, or "
            + _GET_IT,
        )
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
) -> TextDataset:
    """Load the IMDB sentiment dataset (labels ``neg``/``pos``, splits ``train``/``test``).

    ``path`` may be the official ``aclImdb_v1.tar.gz`` (or any ``.tar*``/``.tgz``), an extracted
    ``aclImdb/`` folder (or its parent) or a CSV/CSV.gz with columns ``text,label,split``.
    With ``path=None`` the tarball is taken from ``<cache_dir>/datasets/imdb/`` (``cache_dir``
    defaults to :func:`default_cache_dir`), downloaded from ``url`` first if missing and
    ``download`` is true. Tarball/folder rows are sorted by split (train first), label (neg first)
    and the numeric review id; CSV rows keep file order. Empty texts raise unless ``skip_empty``,
    which counts them in ``skipped["empty_text"]``; non-regular tar members/files (symlinks, ...)
    are skipped and counted in ``skipped["non_regular_member"]``.
    """
    wanted = _check_splits(splits)
    if path is None:
        path = _cached_imdb(url, sha256, cache_dir, download, progress)
    path = Path(path).expanduser()
    if not path.exists():
        raise data_error(
            f"imdb(path={str(path)!r})", "an existing file or folder", "no such path", _GET_IT
        )
    if path.is_dir():
        ds = _read_imdb_dir(path, wanted, skip_empty)
    else:
        name = path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            with _open_text(path) as f:
                ds = _read_imdb_csv(f, str(path), wanted, skip_empty)
        elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")) or (
            tarfile.is_tarfile(path)
        ):
            ds = _read_imdb_tar(path, wanted, skip_empty)
        else:
            raise data_error(
                f"imdb(path={str(path)!r})",
                "an aclImdb tarball (.tar.gz), an aclImdb/ folder or a .csv/.csv.gz file",
                f"a file named {path.name!r} of unknown format",
                "rename the file to its real extension or pass one of the supported formats",
            )
    counts = {(s, lab): 0 for s in wanted for lab in IMDB_LABELS}
    for s, lab in zip(ds.splits, ds.labels, strict=True):
        counts[(s, lab)] += 1
    logger.info("loaded %d IMDB reviews from %s: %s", len(ds), ds.source, counts)
    return ds


def imdb_sample() -> TextDataset:
    """The packaged IMDB sample: 2,000 train + 500 test reviews, balanced (see resources/README)."""
    res = resources.files("padless").joinpath(IMDB_SAMPLE)
    with res.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as f:
        return _read_imdb_csv(f, f"padless:{IMDB_SAMPLE}", IMDB_SPLITS, skip_empty=False)


def _check_splits(splits: Iterable[str]) -> tuple[str, ...]:
    if isinstance(splits, str):
        splits = (splits,)
    wanted = tuple(dict.fromkeys(splits))
    bad = [s for s in wanted if s not in IMDB_SPLITS]
    if bad or not wanted:
        raise data_error(
            "imdb(splits=...)",
            f"a non-empty subset of {IMDB_SPLITS}",
            repr(tuple(splits)),
            "pass splits=('train',), ('test',) or ('train', 'test')",
        )
    return wanted


class _Rows:
    """Collects rows, applying the empty-text rule and counting skips."""

    def __init__(self, source: str, skip_empty: bool) -> None:
        self.source, self.skip_empty = source, skip_empty
        self.rows: list[tuple[tuple, str, str, str]] = []  # (sort key, text, label, split)
        self.skipped: dict[str, int] = {}
        self.groups: set[tuple[str, str]] = set()  # (split, label) pairs seen, even if skipped

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, key: tuple, text: str, label: str, split: str, where: str) -> None:
        self.groups.add((split, label))
        if not text.strip():
            if self.skip_empty:
                self.skip("empty_text")
                return
            raise data_error(
                where,
                "a non-empty review text",
                "an empty (or whitespace-only) text",
                "remove the row or pass imdb(..., skip_empty=True) to skip and count it",
            )
        self.rows.append((key, text, label, split))

    def dataset(self, sort: bool) -> TextDataset:
        rows = sorted(self.rows, key=lambda r: r[0]) if sort else self.rows
        return TextDataset(
            texts=[r[1] for r in rows],
            labels=[r[2] for r in rows],
            splits=[r[3] for r in rows],
            source=self.source,
            skipped=dict(self.skipped),
        )


def _review_key(split: str, label: str, fname: str, where: str) -> tuple[int, int, int]:
    m = _REVIEW_NAME.match(fname)
    if not m:
        raise data_error(
            where,
            "a review file named <id>_<rating>.txt",
            f"{fname!r}",
            "remove the stray file or use an unmodified aclImdb copy",
        )
    return (IMDB_SPLITS.index(split), IMDB_LABELS.index(label), int(m.group(1)))


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise data_error(
            where,
            "UTF-8 text",
            f"invalid byte 0x{data[e.start]:02x} at byte offset {e.start}",
            "re-download or repair the file (it must be UTF-8 encoded)",
        ) from e


def _check_complete(rows: _Rows, wanted: tuple[str, ...], layout: str) -> None:
    for s in wanted:
        for lab in IMDB_LABELS:
            if (s, lab) not in rows.groups:
                raise data_error(
                    rows.source,
                    f"review files under {layout.format(split=s, label=lab)}",
                    "none",
                    "use the complete aclImdb_v1 data, or ask only for the splits you have "
                    "with splits=(...)",
                )


def _read_imdb_tar(path: Path, wanted: tuple[str, ...], skip_empty: bool) -> TextDataset:
    rows = _Rows(str(path), skip_empty)
    seen: dict[tuple, str] = {}
    ignored = 0
    try:
        with tarfile.open(path, mode="r|*") as tf:  # stream: members are never written to disk
            for m in tf:
                parts = PurePosixPath(m.name).parts
                if m.name.startswith("/") or ".." in parts:
                    rows.skip("unsafe_path")
                    logger.warning("%s: skipped member with unsafe path %r", path, m.name)
                    continue
                if m.isdir():
                    continue
                if not m.isreg():
                    rows.skip("non_regular_member")
                    logger.warning("%s: skipped non-regular member %r", path, m.name)
                    continue
                parts = tuple(p for p in parts if p != ".")
                if (
                    len(parts) != 4
                    or parts[0] != "aclImdb"
                    or parts[1] not in wanted
                    or parts[2] not in IMDB_LABELS
                    or not parts[3].endswith(".txt")
                ):
                    ignored += 1
                    continue
                where = f"{path} member {m.name!r}"
                key = _review_key(parts[1], parts[2], parts[3], where)
                if key in seen:
                    raise data_error(
                        where,
                        "each review once",
                        f"a second member with review id {key[2]} (first: {seen[key]!r})",
                        "use an unmodified aclImdb tarball",
                    )
                seen[key] = m.name
                f = tf.extractfile(m)
                assert f is not None  # regular member
                text = _decode(f.read(), where)
                rows.add(key, text, parts[2], parts[1], where)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise data_error(
            str(path),
            "a readable aclImdb tar archive",
            f"{type(e).__name__}: {e}",
            "re-download the file (it is truncated or corrupt)",
        ) from e
    logger.debug("%s: ignored %d members outside aclImdb/{train,test}/{neg,pos}", path, ignored)
    _check_complete(rows, wanted, "aclImdb/{split}/{label}/ in the tarball")
    return rows.dataset(sort=True)


def _read_imdb_dir(path: Path, wanted: tuple[str, ...], skip_empty: bool) -> TextDataset:
    root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
    rows = _Rows(str(root), skip_empty)
    for split in wanted:
        for label in IMDB_LABELS:
            folder = root / split / label
            if not folder.is_dir():
                raise data_error(
                    str(folder),
                    "a folder of review files (aclImdb/<split>/<label>/<id>_<rating>.txt)",
                    "no such folder",
                    "pass the extracted aclImdb/ folder (or its parent), or ask only for the "
                    "splits you have with splits=(...)",
                )
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    rows.skip("non_regular_member")
                    logger.warning("skipped non-regular file %s", entry.path)
                    continue
                if not entry.name.endswith(".txt"):
                    continue
                where = entry.path
                key = _review_key(split, label, entry.name, where)
                with open(entry.path, "rb") as f:
                    text = _decode(f.read(), where)
                rows.add(key, text, label, split, where)
    _check_complete(rows, wanted, f"{root}/{{split}}/{{label}}/")
    return rows.dataset(sort=True)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _raise_csv_field_limit() -> None:
    limit = sys.maxsize
    while True:
        try:
            if csv.field_size_limit() < limit:
                csv.field_size_limit(limit)
            return
        except OverflowError:  # C long is 32 bits on some platforms
            limit //= 2


def _read_imdb_csv(f: IO[str], source: str, wanted: Iterable[str], skip_empty: bool) -> TextDataset:
    _raise_csv_field_limit()
    wanted = tuple(wanted)
    rows = _Rows(source, skip_empty)
    try:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise data_error(source, "a header row text,label,split", "an empty file", _GET_IT)
        header = [h.strip().lstrip("\ufeff") for h in header]
        for col in _CSV_COLUMNS:
            if col not in header:
                raise data_error(
                    f"{source} header",
                    f"a column {col!r} (columns {', '.join(_CSV_COLUMNS)})",
                    f"columns {header}",
                    f"add the {col!r} column or rename the matching one to {col!r}",
                )
        ti, li, si = (header.index(c) for c in _CSV_COLUMNS)
        for i, rec in enumerate(_csv_records(reader), start=1):
            where = f"{source} data row {i} (line {reader.line_num})"
            if len(rec) != len(header):
                raise data_error(
                    where,
                    f"{len(header)} fields ({', '.join(header)})",
                    f"{len(rec)} fields",
                    "quote fields containing commas, quotes or newlines (RFC 4180)",
                )
            label, split = rec[li].strip(), rec[si].strip()
            if label not in IMDB_LABELS:
                raise data_error(
                    f"{where}, column 'label'", "'neg' or 'pos'", repr(rec[li]), "fix the label"
                )
            if split not in IMDB_SPLITS:
                raise data_error(
                    f"{where}, column 'split'", "'train' or 'test'", repr(rec[si]), "fix the split"
                )
            if split in wanted:
                rows.add((), rec[ti], label, split, f"{where}, column 'text'")
    except csv.Error as e:
        raise data_error(source, "a valid CSV file", f"csv.Error: {e}", "repair the file") from e
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise data_error(
            source,
            "a UTF-8 CSV (optionally gzip-compressed)",
            f"{type(e).__name__}: {e}",
            "re-encode the file as UTF-8 or re-download it",
        ) from e
    missing = [s for s in wanted if not any(g[0] == s for g in rows.groups)]
    if missing:
        raise data_error(
            f"{source}, column 'split'",
            f"rows for the requested splits {wanted}",
            f"no rows with split {', '.join(map(repr, missing))}",
            "ask only for the splits the file has with splits=(...), or use a complete file",
        )
    return rows.dataset(sort=False)


def _csv_records(reader) -> Iterator[list[str]]:
    for rec in reader:
        if rec:  # csv yields [] for a blank line; it holds no row
            yield rec


# --------------------------------------------------------------------------- synthetic tasks


def _check_args(where: str, n: int, min_length: int, max_length: int, lowest: int) -> None:
    if int(n) < 0:
        raise data_error(f"{where}(n=...)", "n >= 0", repr(n), "pass a non-negative count")
    if not lowest <= min_length <= max_length:
        raise data_error(
            f"{where}(min_length=..., max_length=...)",
            f"{lowest} <= min_length <= max_length",
            f"min_length={min_length}, max_length={max_length}",
            "fix the length range",
        )


def _ids(n: int, split: str | None) -> list[str]:
    return [f"{split}-{i}" if split else str(i) for i in range(n)]


def sum_mod(
    n: int,
    *,
    k: int = 10,
    min_length: int = 1,
    max_length: int = 100,
    vocab: int = 10,
    seed: int = 0,
    split: str | None = None,
) -> SequenceDataset:
    """``n`` digit sequences, each labelled with (sum of its digits) mod ``k``.

    Unlike the float (T, F) convention of :class:`SequenceDataset`, ``sequences[i]`` is an int64
    array of shape (T_i,) holding token ids: digit ``d`` in ``0..vocab-1`` is stored as ``d + 1``
    so that id 0 stays free for padding (embedding size ``vocab + 1``). Labels are the strings
    ``"0"`` .. ``str(k - 1)``. Lengths are uniform in ``[min_length, max_length]``; digits are
    uniform. ``split`` fills ``splits`` (and prefixes ``ids``).
    """
    _check_args("sum_mod", n, min_length, max_length, 1)
    if k < 1 or vocab < 1:
        raise data_error(
            "sum_mod(k=..., vocab=...)",
            "k >= 1 and vocab >= 1",
            f"k={k}, vocab={vocab}",
            "pass positive values",
        )
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    digits = rng.integers(0, vocab, size=int(lengths.sum()), dtype=np.int64)
    bounds = np.cumsum(lengths)[:-1]
    seqs = [(d + 1) for d in np.split(digits, bounds)] if n else []
    sums = np.add.reduceat(digits, np.concatenate([[0], bounds])) if n else np.array([])
    return SequenceDataset(
        sequences=seqs,
        labels=[str(int(s) % k) for s in sums],
        splits=[split] * n,
        ids=_ids(n, split),
        feature_names=["token"],
        source=f"sum_mod(n={n}, k={k}, length={min_length}..{max_length}, vocab={vocab}, "
        f"seed={seed})",
    )


def adding_problem(
    n: int,
    *,
    min_length: int = 10,
    max_length: int = 100,
    seed: int = 0,
    split: str | None = None,
) -> SequenceDataset:
    """The adding problem (Hochreiter & Schmidhuber 1997), a **regression** task.

    Each sequence is float32 (T, 2): feature ``value`` uniform in [0, 1) and feature ``marker``,
    which is 1 at exactly two steps, one in each half (``[0, T//2)`` and ``[T//2, T)``), else 0.
    ``labels[i]`` is a Python float (not a string): the sum of the two marked values (computed in
    float64 from the stored float32 values). Lengths are uniform in ``[min_length, max_length]``.
    """
    _check_args("adding_problem", n, min_length, max_length, 2)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    values = rng.random(int(lengths.sum()), dtype=np.float32)
    half = lengths // 2
    first = rng.integers(0, half) if n else half
    second = rng.integers(half, lengths) if n else half
    seqs: list[np.ndarray] = []
    targets: list[float] = []
    start = 0
    for t, a, b in zip(lengths.tolist(), first.tolist(), second.tolist(), strict=True):
        x = np.zeros((t, 2), dtype=np.float32)
        x[:, 0] = values[start : start + t]
        x[[a, b], 1] = 1.0
        start += t
        seqs.append(x)
        targets.append(float(np.float64(x[a, 0]) + np.float64(x[b, 0])))
    return SequenceDataset(
        sequences=seqs,
        labels=targets,
        splits=[split] * n,
        ids=_ids(n, split),
        feature_names=["value", "marker"],
        source=f"adding_problem(n={n}, length={min_length}..{max_length}, seed={seed})",
    )


SYNTHETIC_TASKS: dict[str, Callable[..., SequenceDataset]] = {
    "sum_mod": sum_mod,
    "adding_problem": adding_problem,
}
_SPLIT_STREAMS = {"train": 0, "valid": 1, "test": 2}


def split_seed(seed: int, split: str) -> int:
    """The seed :func:`make_splits` uses for ``split``: derived from ``seed`` by
    ``numpy.random.SeedSequence``, distinct per split, and independent of the split sizes."""
    stream = _SPLIT_STREAMS[split]
    return int(np.random.SeedSequence(seed, spawn_key=(stream,)).generate_state(1, np.uint64)[0])


def make_splits(
    task: str | Callable[..., SequenceDataset],
    n_train: int,
    n_valid: int = 0,
    n_test: int = 0,
    *,
    seed: int = 0,
    **kwargs,
) -> SequenceDataset:
    """One dataset holding train/valid/test sets of a synthetic ``task`` (a name in
    :data:`SYNTHETIC_TASKS` or a function taking ``n, seed=, split=, **kwargs``).

    Each split is generated with :func:`split_seed` (``seed``, split name), so the train set does
    not change when ``n_valid``/``n_test`` do; ``ids`` are ``"<split>-<i>"``.
    """
    if isinstance(task, str):
        if task not in SYNTHETIC_TASKS:
            raise data_error(
                "make_splits(task=...)",
                f"one of {sorted(SYNTHETIC_TASKS)}",
                repr(task),
                "pass a known task name or a generator function",
            )
        fn = SYNTHETIC_TASKS[task]
    else:
        fn = task
    parts = [
        fn(n, seed=split_seed(seed, name), split=name, **kwargs)
        for name, n in (("train", n_train), ("valid", n_valid), ("test", n_test))
        if n > 0
    ]
    name = getattr(fn, "__name__", str(fn))
    out = SequenceDataset(
        sequences=[s for p in parts for s in p.sequences],
        labels=[y for p in parts for y in p.labels],
        splits=[s for p in parts for s in p.splits],
        ids=[i for p in parts for i in p.ids],
        feature_names=list(parts[0].feature_names) if parts else [],
        source=f"make_splits({name}, train={n_train}, valid={n_valid}, test={n_test}, seed={seed})",
    )
    return out


__all__ = [
    "IMDB_SAMPLE",
    "IMDB_SAMPLE_SHA256",
    "IMDB_SHA256",
    "IMDB_URL",
    "SYNTHETIC_TASKS",
    "adding_problem",
    "default_cache_dir",
    "download",
    "imdb",
    "imdb_sample",
    "make_splits",
    "sha256_file",
    "split_seed",
    "sum_mod",
]
