"""Building a store from a text table larger than memory, a bounded chunk of rows at a time.

Used for ``data.source = "table"`` with the word tokenizer (no bigrams); other sources are
prepared in memory and then written (:mod:`padless.encode.prepared`). Memory holds one chunk of
rows, a few bytes per row (split, length, label code) and one entry per distinct token; the
token ids go to a scratch file on disk. Two passes:

1. **Read, clean once, tokenize.** Each chunk of rows (:func:`padless.data.tables.iter_table`,
   converted by :class:`padless.data.text_table.TextTableRows`) is cleaned and split into words
   by the batch functions of :mod:`padless.encode.text`. Words get *provisional* ids in order of
   first appearance, written to the scratch file; labels and splits are kept as codes.
2. **Fit, then map.** With every split known, the validation rows are drawn exactly as
   :func:`padless.data.dataset.assign_validation` draws them; the vocabulary is fitted on the
   train rows' word counts (a ``bincount`` of their provisional ids, then
   :meth:`Vocab.from_counts`, the order :meth:`Vocab.build` gives) and the labels on the train
   labels. Each scratch chunk is then mapped to final ids with one array lookup, truncated
   (:func:`truncate_flat`) and written to its split's file.

The result equals :func:`padless.encode.splits.prepare_in_memory` on the same config: the same
rows in each split, the same ids, the same targets (tested).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.dataset import assign_validation_codes
from padless.data.delimited import BadRows
from padless.data.tables import infer_format, iter_table
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.encode.store import SPLITS, SplitWriter, flat_targets
from padless.encode.text import TextEncoder, truncate_flat
from padless.encode.tokenizer_pool import Codes, TokenizerPool, default_workers, tokenize_chunk
from padless.encode.vocab import Vocab
from padless.errors import data_error
from padless.progress import show_bars

__all__ = ["streams", "write_streamed"]

logger = logging.getLogger(__name__)
CHUNK_ROWS = 65536
POOL_FROM_BYTES = 16 << 20  # smaller files are tokenized in this process (workers take ~0.4 s)


def streams(cfg: Config) -> bool:
    """Whether ``cfg``'s data is built streaming (a text table, word tokenizer, no bigrams).
    Not with ``data.limit``: its rows are drawn from each whole split (known only once every
    row is read), in memory by :func:`padless.data.load_data`, as for every other source."""
    t = cfg.text
    d = cfg.data
    return d.source == "table" and t.tokenizer == "word" and t.ngrams == 1 and d.limit is None


class _Labels:
    """A label column kept compactly: class names as codes, numbers as floats, lists (and
    ``{target: value}`` dicts) as flat values and counts. Every row must be of one kind (the
    first row's)."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "name", "number", "names", "numbers"
        self.names = Codes()
        self.parts: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.targets: tuple[str, ...] | None = None  # names of dict labels (label_columns)

    def add(self, labels: list[Any], where: str, row0: int) -> None:
        types = set(map(type, labels))
        simple = {str: "name", float: "number"}.get(next(iter(types))) if len(types) == 1 else None
        kinds = {simple} if simple else {_kind(v) for v in labels}
        if self.kind is None and labels:
            self.kind = _kind(labels[0])
        if kinds - {self.kind}:
            bad = next(i for i, v in enumerate(labels) if _kind(v) != self.kind)
            raise data_error(
                f"{where} row {row0 + bad}, label",
                f"a label of the same kind as the first row's ({self.kind})",
                repr(labels[bad])[:60],
                "give every row the same kind of label",
            )
        if self.kind == "name":
            self.parts.append(self.names.codes(labels))
        elif self.kind == "number":
            self.parts.append(np.asarray(labels, dtype=np.float64))
        else:
            if labels and isinstance(labels[0], dict):  # several named targets
                self.targets = tuple(labels[0])
                labels = [list(v.values()) for v in labels]
            flat = [x for v in labels for x in v]
            codes = self.names.codes(flat) if self.kind == "names" else np.asarray(flat, float)
            self.parts.append(np.asarray(codes))
            self.counts.append(np.array([len(v) for v in labels], dtype=np.int64))

    def finish(self) -> None:
        self.flat = np.concatenate(self.parts) if self.parts else np.zeros(0)
        if self.counts:
            counts = np.concatenate(self.counts)
            self.offsets = np.concatenate([[0], np.cumsum(counts)])

    def value(self, i: int) -> Any:
        """Row ``i``'s label as the reader gave it."""
        if self.kind == "name":
            return self.names.values[int(self.flat[i])]
        if self.kind == "number":
            return float(self.flat[i])
        part = self.flat[self.offsets[i] : self.offsets[i + 1]]
        if self.kind == "names":
            return [self.names.values[int(c)] for c in part]
        if self.targets is not None:
            return dict(zip(self.targets, (float(x) for x in part), strict=True))
        return [float(x) for x in part]


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "numbers"
    if isinstance(v, list):
        return "numbers" if v and all(isinstance(x, float) for x in v) else "names"
    return "number" if isinstance(v, float) else "name"


def _rows_converter(cfg: Config, path: Path, header: list[str]) -> Any:
    from padless.data.text_table import TextTableRows

    return TextTableRows.from_config(path, header, cfg.data)


class _Scratch:
    """Pass 1's output: provisional ids on disk, everything else compact in memory."""

    def __init__(self, path: Path):
        self.writer = SplitWriter(path, x_float=False, width=1, y_kind="class")
        self.path = path
        self.words = Codes()
        self.splits = Codes()
        self.labels = _Labels()
        self.split_codes: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.rows = self.tokens = 0


def _read(cfg: Config, scratch: _Scratch) -> tuple[str, dict[str, int]]:
    """Pass 1 (module docstring); returns the source name and the rows skipped."""
    d = cfg.data
    path = Path(d.path or "")
    bad = BadRows() if d.skip_bad_rows else None
    bar = _progress(path)
    header, chunks = iter_table(
        path,
        infer_format(path, d.format),
        bad_rows=bad,
        check_multiline=d.check_multiline,
        chunk_rows=CHUNK_ROWS,
        progress=bar.update,
    )
    convert = _rows_converter(cfg, path, header)
    started = time.perf_counter()
    datasets = (convert.convert(chunk) for chunk in chunks)
    with _collector_paused(), _tokenized(datasets, cfg, path) as results:
        for ds, job in results:
            _store(scratch, path, ds, job)
            seconds = max(time.perf_counter() - started, 1e-9)
            rate = {"rows_s": scratch.rows / seconds, "tok_s": scratch.tokens / seconds}
            bar.set_postfix({k: f"{v:,.0f}" for k, v in rate.items()})
    bar.close()
    scratch.writer.close()
    if scratch.rows == 0:
        raise data_error(str(path), "at least one row", "no rows", "check the file content")
    skipped = dict(convert.skipped)
    if bad is not None and bad.count:
        logger.warning("%s: %s (data.skip_bad_rows = true)", path, bad)
        skipped["bad_rows"] = bad.count
    seconds = time.perf_counter() - started
    logger.info(
        "data: read and tokenized %s: %d rows, %d tokens in %.1f s (%.0f tokens/s)",
        path,
        scratch.rows,
        scratch.tokens,
        seconds,
        scratch.tokens / max(seconds, 1e-9),
    )
    return str(path), {k: v for k, v in skipped.items() if v}


@contextlib.contextmanager
def _tokenized(datasets: Iterator[Any], cfg: Config, path: Path) -> Iterator[Iterator[Any]]:
    """``(dataset, tokenized texts)`` of each chunk, in order: tokenized by worker processes
    (:class:`TokenizerPool`, ``data.encode_workers`` of them; 0 = one per core for a file
    over ``POOL_FROM_BYTES``) while this process reads the next chunks, or here."""
    t = cfg.text
    workers = cfg.data.encode_workers
    if workers == 0:
        workers = default_workers() if path.stat().st_size >= POOL_FROM_BYTES else 1
    pool = None
    if workers >= 2:
        try:
            pool = TokenizerPool(workers, lowercase=t.lowercase, strip_html=t.strip_html)
        except OSError as exc:  # no processes here (a sandbox, an embedded interpreter)
            logger.warning("tokenizing in this process: no worker processes (%s)", exc)
    if pool is None:
        yield ((ds, tokenize_chunk(ds.texts, t.lowercase, t.strip_html)) for ds in datasets)
        return
    with pool:
        yield pool.imap((ds, ds.texts) for ds in datasets)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while chunks are read: each row makes a list (the CSV
    record) and the collector would walk every one still alive, again and again, which more
    than doubles the reading time. The loop makes no reference cycles; the collector is on
    again (if it was) when it ends, however it ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _store(scratch: _Scratch, path: Path, ds: Any, job: tuple[Any, Any, Any]) -> None:
    """Give a tokenized chunk provisional word ids and write it to the scratch file."""
    words, local, counts = job
    ids = scratch.words.codes(words)[local] if len(words) else np.zeros(0, np.int32)
    if (counts == 0).any():
        i = int(np.flatnonzero(counts == 0)[0])
        raise data_error(
            f"{path} row {scratch.rows + i}",
            "text with at least one token after cleaning",
            repr(ds.texts[i][:80]),
            "remove empty or markup-only texts",
        )
    rows = np.arange(scratch.rows, scratch.rows + len(ds), dtype=np.int64)
    scratch.writer.write(rows, counts, ids, np.zeros(len(ds), dtype=np.int64))
    scratch.split_codes.append(scratch.splits.codes(ds.splits))
    scratch.lengths.append(counts)
    scratch.labels.add(list(ds.labels), str(path), scratch.rows)
    scratch.rows += len(ds)
    scratch.tokens += len(ids)


def _progress(path: Path) -> Any:
    from tqdm.auto import tqdm

    total = path.stat().st_size
    return tqdm(
        total=total,
        desc=f"encode {path.name}",
        unit="B",
        unit_scale=True,
        leave=False,
        disable=not show_bars(),
    )


def write_streamed(cfg: Config, directory: Path) -> dict[str, Any]:
    """Build the store's files in ``directory`` from ``cfg``'s text table (module docstring);
    returns the ``store.json`` content (without the key and file digests)."""
    scratch = _Scratch(directory / "scratch.arrow")
    source, skipped = _read(cfg, scratch)
    names = assign_validation_codes(
        np.concatenate(scratch.split_codes),
        scratch.splits.values,
        cfg.data.valid_fraction,
        cfg.train.seed,
    )
    train = names == 0
    if not train.any():
        fix = "check the split column values (train / valid / test)"
        raise data_error(source, "rows in the train split", "none", fix)
    scratch.labels.finish()
    labels = _fit_labels(scratch.labels, train, source, cfg.data.task)
    vocab = _fit_vocab(scratch, train, cfg)
    pipeline = InputPipeline("text", text=TextEncoder(cfg.text, vocab=vocab))
    (directory / "pipeline").mkdir()
    pipeline.save(directory / "pipeline")
    counts = _map(scratch, names, vocab, labels, cfg, directory, source)
    scratch.path.unlink()
    logger.info(
        "data: %s rows %s, text input, task %s with %d label(s)",
        source,
        counts,
        labels.task,
        len(labels.classes),
    )
    return {
        "source": source,
        "counts": counts,
        "skipped": skipped,
        "pipeline": pipeline.to_dict(),
        "labels": labels.to_dict(),
    }


def _fit_labels(col: _Labels, train: np.ndarray, source: str, task: str) -> LabelSpace:
    """The label space of the train rows' labels (only their distinct values matter)."""
    where = f"{source}, label column (train split)"
    if col.kind == "name":
        seen = np.unique(col.flat[train].astype(np.int64))
        return LabelSpace.from_labels([col.names.values[c] for c in seen], where, task)
    if col.kind == "number":
        values = np.unique(col.flat[train])
        return LabelSpace.from_labels([float(v) for v in values[:1000]], where, task)
    rows = np.flatnonzero(train)
    if col.kind == "names":
        mask = np.repeat(train, np.diff(col.offsets))
        seen = np.unique(col.flat[mask].astype(np.int64))
        union = [col.names.values[c] for c in seen]
        empty: list[list[str]] = [[] for _ in rows[:1]]
        return LabelSpace.from_labels([union, *empty], where, task)
    return LabelSpace.from_labels([col.value(int(i)) for i in rows[:1000]], where, task)


def _scratch_batches(scratch: _Scratch) -> Any:
    """(rows, lengths, provisional ids) of each chunk written in pass 1, read a chunk at a
    time (not memory-mapped: the mapped pages of a file the size of the data would count in
    the process's resident memory until the kernel reclaims them)."""
    import pyarrow as pa

    with pa.OSFile(str(scratch.path), "r") as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            b = reader.get_batch(i)
            ids = b.column(2).values.to_numpy()
            yield b.column(0).to_numpy(), b.column(1).to_numpy().astype(np.int64), ids


def _fit_vocab(scratch: _Scratch, train: np.ndarray, cfg: Config) -> Vocab:
    """The vocabulary of the train rows' word counts, in :meth:`Vocab.build`'s order."""
    counts = np.zeros(len(scratch.words.values), dtype=np.int64)
    for rows, lengths, ids in _scratch_batches(scratch):
        mask = np.repeat(train[rows], lengths)
        counts += np.bincount(ids[mask], minlength=len(counts))
    t = cfg.text
    vocab = Vocab.from_counts(
        scratch.words.values, counts, max_size=t.max_size, min_freq=t.min_freq
    )
    logger.info(
        "word vocabulary: %d tokens (max_size %d, min_freq %d)", len(vocab), t.max_size, t.min_freq
    )
    return vocab


def _map(
    scratch: _Scratch,
    names: np.ndarray,
    vocab: Vocab,
    labels: LabelSpace,
    cfg: Config,
    directory: Path,
    source: str,
) -> dict[str, int]:
    """Pass 2: final ids, truncated, and targets, into one file per split present."""
    remap = vocab.lookup(scratch.words.values).astype(np.int32)
    targets = _Targets(scratch.labels, labels)
    present = [k for k, _ in enumerate(SPLITS) if (names == k).any()]
    writers = {
        k: SplitWriter(
            directory / f"{SPLITS[k]}.arrow", x_float=False, width=1, y_kind=targets.y_kind
        )
        for k in present
    }
    t = cfg.text
    try:
        for rows, lengths, ids in _scratch_batches(scratch):
            final = remap[ids]
            for k, writer in writers.items():
                keep = names[rows] == k
                if not keep.any():
                    continue
                mask = np.repeat(keep, lengths)
                x, n = truncate_flat(final[mask], lengths[keep], t.max_length, t.truncation)
                y = targets.encode(rows[keep], lengths[keep], n, source, t)
                writer.write(rows[keep], n, x, y)
    finally:
        for writer in writers.values():
            writer.close()
    return {SPLITS[k]: w.rows for k, w in writers.items()}


class _Targets:
    """Pass 2's targets: the labels of some rows encoded by the label space, with array
    lookups for class names and numbers; a label the space lacks raises as
    :meth:`LabelSpace.encode` does, naming the row."""

    def __init__(self, col: _Labels, labels: LabelSpace):
        self.col, self.labels = col, labels
        task = labels.task
        if task in ("tagging", "multilabel"):
            self.y_kind = "tags" if task == "tagging" else "classes"
        elif task == "regression":
            self.y_kind = "value" if col.kind == "number" else "values"
        else:
            self.y_kind = "class"
        index = {c: i for i, c in enumerate(labels.classes)}
        self.code_map = np.array([index.get(str(v), -1) for v in col.names.values], dtype=np.int64)

    def _raise(self, row: int, source: str) -> None:
        self.labels.encode(self.col.value(row), where=f"{source} row {row}, label")
        raise AssertionError(f"row {row}: a label that cannot be encoded was accepted")

    def encode(
        self, rows: np.ndarray, full: np.ndarray, kept: np.ndarray, source: str, t: Any
    ) -> Any:
        """Targets of ``rows`` (``full`` steps each before truncation, ``kept`` after)."""
        col, kind = self.col, self.y_kind
        if kind == "class" and col.kind == "name":
            y = self.code_map[col.flat[rows].astype(np.int64)]
            if (y < 0).any():
                self._raise(int(rows[np.flatnonzero(y < 0)[0]]), source)
            return y
        if kind == "value" and col.kind == "number":
            v = col.flat[rows]
            if not np.isfinite(v).all():
                self._raise(int(rows[np.flatnonzero(~np.isfinite(v))[0]]), source)
            return v
        out = [self.labels.encode(col.value(int(r)), f"{source} row {int(r)}, label") for r in rows]
        if kind == "tags":
            return self._tags(out, rows, full, source, t)
        return flat_targets(out, kind)

    def _tags(
        self, tags: list[Any], rows: np.ndarray, full: np.ndarray, source: str, t: Any
    ) -> Any:
        """One tag per step before truncation, then truncated as the steps were."""
        counts = np.array([len(x) for x in tags], dtype=np.int64)
        if (counts != full).any():
            k = int(np.flatnonzero(counts != full)[0])
            raise data_error(
                f"{source} row {int(rows[k])}, tags",
                f"{int(full[k])} tags (one per step)",
                f"{int(counts[k])} tags",
                "give exactly one tag per step",
            )
        flat = np.concatenate(tags) if tags else np.zeros(0, np.int64)
        return truncate_flat(flat, counts, t.max_length, t.truncation)
