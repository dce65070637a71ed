"""Encoded splits on disk: Arrow IPC files written in bounded chunks, memory-mapped to train.

A store directory (named by :func:`padless.encode.cache.store_key`) holds

* ``store.json``: format version, key, padless version, source, rows per split, rows skipped,
  the fitted pipeline's ``config.json`` entry, the label space, and the size and sha256 of every
  other file in the store;
* ``verified.json``: for each of those files, the stat identity (size, modification and change
  times in ns, inode, device) it had when its sha256 last checked right
  (:mod:`padless.encode.stamps`);
* ``pipeline/``: the fitted input pipeline's files (vocabulary, tokenizer, normaliser);
* ``train.arrow``, ``valid.arrow``, ``test.arrow``: one Arrow IPC file per split, record
  batches of at most a chunk of rows, with the columns

  ===========  ================================================================================
  ``row``      int64, the example's row in the data set (errors and outputs point back at it)
  ``length``   int32, its steps T
  ``x``        list of int32 token ids (T values, or 2T with bigrams: id, bigram per step) or
               float32 features (T·F values), flattened step by step
  ``y``        the target: int64 class; float64 regression target; list<float64> several
               targets; list<int32> multi-label class indices; list<int32> per-step tags
  ===========  ================================================================================

Arrow IPC (Feather v2) was chosen over Parquet and HF ``datasets``: its buffers are stored
uncompressed and aligned, so ``pyarrow.memory_map`` gives numpy views with no copy and no
decoding (Parquet pages must be decompressed and decoded into memory; ``datasets`` stores
Arrow IPC too, but adds a fingerprinting layer and a dependency this does not need). The
kernel pages in what a batch touches; bucketing and DDP sharding read only ``length``.

:class:`SplitWriter` writes a split; :func:`open_store` verifies a store (sizes, sha256, schema,
row counts) and returns its :class:`StoredSplit` objects, or raises :class:`StoreError` so the
caller rebuilds it.

Verification hashes a file only when its stat identity differs from the one stamped in
``verified.json`` when its sha256 last checked right (:mod:`padless.encode.stamps` says why and
what that trusts): a warm open reads ``length`` columns, not the whole store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padless.encode.cache import FORMAT_VERSION
from padless.encode.splits import Split
from padless.encode.stamps import check_files, digest_and_stamp, listed_files

__all__ = [
    "SPLITS",
    "SplitWriter",
    "StoreError",
    "StoredSplit",
    "flat_targets",
    "load_splits",
    "open_store",
    "write_meta",
    "y_kind",
]

SPLITS = ("train", "valid", "test")


class StoreError(Exception):
    """A store that cannot be used as it is (missing, corrupt, stale); it is rebuilt."""


def _pa() -> Any:
    from padless.errors import import_optional

    return import_optional("pyarrow", "the encoded-data cache (data.cache = true)", "parquet")


# ----------------------------------------------------------------------------- writing
class SplitWriter:
    """Writes one split's record batches to ``path`` (see the module docstring's columns).

    ``x_float``: the inputs are float features (else int32 ids); ``width``: values per step;
    ``y_kind``: ``"class"``, ``"value"``, ``"values"``, ``"classes"`` or ``"tags"``.
    """

    def __init__(self, path: Path, *, x_float: bool, width: int, y_kind: str):
        pa = _pa()
        self.path, self.width, self.y_kind, self.rows = path, width, y_kind, 0
        self.x_type = pa.float32() if x_float else pa.int32()
        y_types = {
            "class": pa.int64(),
            "value": pa.float64(),
            "values": pa.list_(pa.float64()),
            "classes": pa.list_(pa.int32()),
            "tags": pa.list_(pa.int32()),
        }
        meta = {"width": str(width), "y_kind": y_kind}
        self.schema = pa.schema(
            [
                ("row", pa.int64()),
                ("length", pa.int32()),
                ("x", pa.list_(self.x_type)),
                ("y", y_types[y_kind]),
            ],
            metadata=meta,
        )
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, self.schema)

    def write(self, rows: np.ndarray, lengths: np.ndarray, x: np.ndarray, y: Any) -> None:
        """Append examples: dataset ``rows``, step ``lengths``, ``x`` flat (sum(lengths) ·
        width values) and ``y``: an array of scalars, or ``(flat values, counts)`` for the
        list kinds."""
        pa = _pa()
        n = len(rows)
        if n == 0:
            return
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.asarray(lengths, dtype=np.int64) * self.width, out=offsets[1:])
        dtype = np.float32 if self.x_type == pa.float32() else np.int32
        xs = pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.asarray(x, dtype=dtype)))
        if self.y_kind in ("class", "value"):
            ys = pa.array(np.asarray(y, dtype=np.int64 if self.y_kind == "class" else np.float64))
        else:
            flat, counts = y
            y_off = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(counts, out=y_off[1:])
            vtype = np.float64 if self.y_kind == "values" else np.int32
            ys = pa.ListArray.from_arrays(pa.array(y_off), pa.array(np.asarray(flat, vtype)))
        cols = [pa.array(np.asarray(rows, np.int64)), pa.array(np.asarray(lengths, np.int32))]
        self._writer.write_batch(pa.record_batch([*cols, xs, ys], schema=self.schema))
        self.rows += n

    def close(self) -> None:
        self._writer.close()
        self._sink.close()


def write_meta(directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``store.json`` with the size and sha256 of every other file in ``directory``, and
    stamp those files as verified (:func:`~padless.encode.stamps.digest_and_stamp`: their
    hashes were just read from disk); returns what it wrote."""
    digests = digest_and_stamp(directory, listed_files(directory))
    meta = {**meta, "format": FORMAT_VERSION, "files": digests}
    (directory / "store.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return meta


def y_kind(task: str, targets: Any) -> str:
    """The ``y`` column kind of a task's encoded targets (see :mod:`padless.encode.store`)."""
    if task == "tagging":
        return "tags"
    if task == "multilabel":
        return "classes"
    if task == "regression":
        return "values" if len(targets) and np.ndim(targets[0]) else "value"
    return "class"


def flat_targets(targets: list[Any], kind: str) -> Any:
    """Encoded targets as the writer takes them: an array, or (flat values, counts)."""
    if kind in ("class", "value"):
        return np.asarray(targets)
    if kind == "classes":  # multi-hot rows -> the indices of their classes
        parts = [np.flatnonzero(np.asarray(t)) for t in targets]
    else:
        parts = [np.asarray(t).reshape(-1) for t in targets]
    counts = np.array([len(p) for p in parts], dtype=np.int64)
    flat = np.concatenate(parts) if parts else np.zeros(0)
    return flat, counts


# ----------------------------------------------------------------------------- reading
class _Lazy(Sequence):
    """A read-only sequence whose items a function makes on demand."""

    def __init__(self, n: int, get: Any):
        self._n, self._get = n, get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._get(k) for k in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._get(i)

    def __iter__(self) -> Iterator[Any]:
        return (self._get(k) for k in range(self._n))


class StoredSplit(Split):
    """A split read from a memory-mapped store file: the same interface as :class:`Split`
    (``inputs`` and ``targets`` are lazy sequences), with ``lengths()`` from the ``length``
    column alone and ``samples`` slicing the mapped buffers (no copy until collation)."""

    def __init__(self, path: Path, task: str, num_classes: int):
        pa = _pa()
        self.path, self.task, self.num_classes = path, task, num_classes
        self._map = pa.memory_map(str(path), "r")
        reader = pa.ipc.open_file(self._map)
        meta = reader.schema.metadata or {}
        self.width = int(meta.get(b"width", b"1"))
        self.y_kind = meta.get(b"y_kind", b"class").decode()
        self._batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        starts = np.cumsum([0] + [b.num_rows for b in self._batches])
        self._starts = starts
        n = int(starts[-1])
        self._x = [_list_views(b.column(2)) for b in self._batches]
        self._y = [_y_views(b.column(3), self.y_kind) for b in self._batches]
        self._lengths = _concat([_view(b.column(1)) for b in self._batches], np.int64)
        self._rows = [_view(b.column(0)) for b in self._batches]  # views, read when asked
        Split.__init__(self, _Lazy(n, self._input), _Lazy(n, self._target), _Lazy(n, self._row))

    def lengths(self) -> np.ndarray:
        return self._lengths

    def _where(self, i: int) -> tuple[int, int]:
        b = int(np.searchsorted(self._starts, i, side="right")) - 1
        return b, i - int(self._starts[b])

    def _row(self, i: int) -> int:
        b, j = self._where(i)
        return int(self._rows[b][j])

    def _input(self, i: int) -> np.ndarray:
        b, j = self._where(i)
        offsets, values = self._x[b]
        x = values[offsets[j] : offsets[j + 1]]
        if x.dtype == np.float32:
            return x.reshape(-1, self.width)
        x = x.astype(np.int64)
        return x.reshape(-1, 2) if self.width == 2 else x

    def _target(self, i: int) -> Any:
        b, j = self._where(i)
        y = self._y[b]
        if self.y_kind == "class":
            return int(y[j])
        if self.y_kind == "value":
            return float(y[j])
        offsets, values = y
        v = values[offsets[j] : offsets[j + 1]]
        if self.y_kind == "values":
            return v.astype(np.float64)
        if self.y_kind == "tags":
            return v.astype(np.int64)
        hot = np.zeros(self.num_classes, dtype=np.float32)  # multi-label: indices -> multi-hot
        hot[v] = 1.0
        return hot

    def samples(self, idx: Sequence[int] | np.ndarray) -> list[tuple[Any, Any]]:
        return [(self._input(int(i)), self._target(int(i))) for i in idx]


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _list_views(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) numpy views of an Arrow list column, without copying or reading.

    Both come from the column's buffers: ``col.offsets.to_numpy()`` and
    ``col.values.to_numpy()`` give the same views but (pyarrow 26) read every value first,
    ~3 ms per record batch of a warm store (0.5 s at 9M rows) spent before the first batch.
    Offsets index ``col.values`` as stored (not rebased to a slice), as ``col.offsets`` does.
    """
    offsets = np.frombuffer(
        col.buffers()[1], dtype=np.int32, count=len(col) + 1, offset=col.offset * 4
    )
    return offsets, _view(col.values)


def _view(arr: Any) -> np.ndarray:
    """A read-only numpy view of a primitive Arrow array's values; raises ValueError (a store
    to rebuild) on nulls, which the writer never writes."""
    if arr.null_count:
        raise ValueError(f"a {arr.type} column with {arr.null_count} nulls, expected none")
    dtype = np.dtype(arr.type.to_pandas_dtype())
    return np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
    )


def _y_views(col: Any, kind: str) -> Any:
    return _view(col) if kind in ("class", "value") else _list_views(col)


def open_store(directory: Path, key: str) -> dict[str, Any]:
    """Verify the store in ``directory`` (format, key, the file list, every file's size and
    sha256) and return its ``store.json``; raise :class:`StoreError` saying what is wrong.

    A file whose stat identity still equals its stamp is not hashed again
    (:func:`~padless.encode.stamps.check_files`; the module docstring says what that trusts)."""
    try:
        meta = json.loads((directory / "store.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"store.json unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise StoreError(f"format {meta.get('format')!r}, expected {FORMAT_VERSION}")
    if meta.get("key") != key:
        raise StoreError(f"key {meta.get('key')!r}, expected {key}")
    files = meta.get("files")
    if not isinstance(files, dict):
        raise StoreError("no file list")
    on_disk = listed_files(directory)
    if set(on_disk) != set(files):
        raise StoreError(f"files {sorted(set(on_disk) ^ set(files))} differ from the list")
    problem = check_files(directory, files)
    if problem:
        raise StoreError(problem)
    return meta


def load_splits(directory: Path, meta: dict[str, Any]) -> dict[str, StoredSplit]:
    """The store's splits, memory-mapped; raises :class:`StoreError` on an inconsistent file."""
    labels = meta["labels"]
    out: dict[str, StoredSplit] = {}
    for name, count in meta["counts"].items():
        try:
            split = StoredSplit(directory / f"{name}.arrow", labels["task"], len(labels["classes"]))
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise StoreError(f"{name}.arrow unreadable ({exc})") from None
        if len(split) != count:
            raise StoreError(f"{name}.arrow: {len(split)} rows, expected {count}")
        out[name] = split
    return out
