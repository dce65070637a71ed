"""The data stage of training: a config in, encoded splits out, cached on disk.

:func:`prepare` returns the :class:`~padless.encode.splits.Prepared` splits of a config. With
``data.cache = true`` (the default) and a source read from files (a table, a long table, UEA
``.ts`` files, IMDB, the packaged sample), the encoded splits live in a store on disk
(:mod:`padless.encode.store`, keyed as :mod:`padless.encode.cache` says):

* a store that exists and verifies is memory-mapped: no reading, cleaning or encoding;
* a missing, stale or corrupt one is (re)built under the store's lock, in a hidden directory
  renamed into place when complete. A text table with the word tokenizer is built streaming,
  a bounded chunk of rows at a time (:mod:`padless.encode.streaming`), so data larger than
  memory trains; every other source is prepared in memory
  (:func:`~padless.encode.splits.prepare_in_memory`) and then written.

Synthetic sources (generated from the settings, never read) and ``data.cache = false`` are
prepared in memory every run. Either way the examples, their order and their ids are the same:
training gets the same batches from the store as from memory.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.sources import SOURCES
from padless.encode.cache import cache_root, data_files, describe, store_key, store_lock
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.encode.splits import Prepared, Split, prepare_in_memory
from padless.encode.store import (
    SplitWriter,
    StoreError,
    flat_targets,
    load_splits,
    open_store,
    write_meta,
    y_kind,
)

__all__ = ["prepare", "store_directory", "write_prepared"]

logger = logging.getLogger(__name__)
_CHUNK = 65536  # rows per record batch written from memory


def store_directory(cfg: Config) -> Path | None:
    """The store directory ``cfg``'s data is cached in, or None when it is not cached."""
    if not cfg.data.cache or SOURCES[cfg.data.source].kind == "synthetic":
        return None
    files = data_files(cfg)
    if files is None:
        return None
    root = cache_root(cfg)
    return root / "stores" / store_key(cfg, files, root)


def prepare(cfg: Config) -> Prepared:
    """The encoded splits of ``cfg`` (see the module docstring)."""
    directory = store_directory(cfg)
    if directory is None:
        return prepare_in_memory(cfg)
    key = directory.name
    with store_lock(directory):
        try:
            meta = open_store(directory, key)
            splits = load_splits(directory, meta)
            logger.info("data: encoded splits from the cache %s (%s)", directory, describe(meta))
        except StoreError as exc:
            if directory.exists():
                logger.warning(
                    "data: the cached store %s is unusable (%s); rebuilding", directory, exc
                )
            meta = _build(cfg, directory, key)
            splits = load_splits(directory, meta)
    pipeline = InputPipeline.load(directory / "pipeline", {"pipeline": meta["pipeline"]})
    labels = LabelSpace.from_dict(meta["labels"])
    if meta.get("skipped"):
        logger.warning("%s: skipped on request: %s", meta["source"], meta["skipped"])
    return Prepared(meta["source"], pipeline, labels, dict(splits), dict(meta.get("skipped", {})))


def _build(cfg: Config, directory: Path, key: str) -> dict[str, Any]:
    """Build the store into a hidden sibling, then rename it into place (under the lock)."""
    from padless.encode.streaming import streams, write_streamed

    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    for stale in directory.parent.glob(f".{directory.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a run that died building
    tmp.mkdir(parents=True)
    try:
        if streams(cfg):
            meta = write_streamed(cfg, tmp)
        else:
            meta = write_prepared(prepare_in_memory(cfg), tmp)
        meta["key"] = key
        meta = write_meta(tmp, meta)  # hashes and stamps every file once; not verified below
        if directory.exists():
            old = directory.with_name(f".{directory.name}.{os.getpid()}.old.tmp")
            directory.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("data: cached the encoded splits in %s (%s)", directory, describe(meta))
    return meta


def write_prepared(prepared: Prepared, directory: Path) -> dict[str, Any]:
    """Write in-memory splits as a store's files; returns the ``store.json`` content (without
    the key and file digests)."""
    (directory / "pipeline").mkdir()
    prepared.pipeline.save(directory / "pipeline")
    task = prepared.labels.task
    counts = {}
    for name, split in prepared.splits.items():
        counts[name] = _write_split(split, task, directory / f"{name}.arrow")
    return {
        "source": prepared.source,
        "counts": counts,
        "skipped": prepared.skipped,
        "pipeline": prepared.pipeline.to_dict(),
        "labels": prepared.labels.to_dict(),
    }


def _write_split(split: Split, task: str, path: Path) -> int:
    first_x = np.asarray(split.inputs[0]) if len(split) else np.zeros(0, np.int64)
    x_float = first_x.dtype.kind == "f"
    shape: tuple[int, ...] = first_x.shape
    width = shape[1] if len(shape) == 2 else 1
    writer = SplitWriter(path, x_float=x_float, width=width, y_kind=y_kind(task, split.targets))
    try:
        for start in range(0, len(split), _CHUNK):
            idx = range(start, min(start + _CHUNK, len(split)))
            xs = [np.asarray(split.inputs[i]) for i in idx]
            lengths = np.array([len(x) for x in xs], dtype=np.int64)
            flat = np.concatenate([x.reshape(-1) for x in xs])
            rows = np.asarray([split.rows[i] for i in idx], dtype=np.int64)
            writer.write(
                rows, lengths, flat, flat_targets([split.targets[i] for i in idx], writer.y_kind)
            )
    finally:
        writer.close()
    return writer.rows
