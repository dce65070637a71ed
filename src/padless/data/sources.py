"""The ``[data] source`` registry, and what a DATA argument on the command line means.

:data:`SOURCES` maps every name ``[data] source`` accepts to a :class:`Source`: its loader (a
:class:`~padless.config.DataConfig` in, a dataset out) and what it reads. The config's list of
valid sources is taken from it, so a source added here is accepted everywhere at once.

* ``imdb-sample``, ``imdb``: ready-made IMDB reviews (packaged sample; cached download or a
  local tarball / folder / CSV in ``data.path``);
* ``table``: a text table (CSV / TSV / JSONL / Parquet) in ``data.path``;
* ``ts``: a UEA/UCR ``.ts`` file (plus ``data.test_path``) or a ``Name_TRAIN/_TEST.ts`` pair;
* ``long_table``: numeric sequences stored one row per time step;
* ``sum_mod``, ``adding``, ``running_sum_mod``: seeded synthetic tasks, generated from the
  ``data.*_size``, length, ``modulus`` and ``seed`` settings.

:func:`load_data` reads what a config names (``data.limit`` keeps a seeded subset).
:func:`resolve_data` turns a DATA argument (``padless evaluate MODEL DATA``,
``padless lengths DATA``) into the config that reads it, given the config it should be read
like.

:mod:`padless.config` imports this module for the source names, at every command. So this
module must not import config at run time (``DataConfig`` appears in annotations only), and it
stays cheap to import: each loader imports its reader when called, and neither numpy nor a
reader is loaded before data is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from padless.errors import data_error

if TYPE_CHECKING:
    from padless.config import DataConfig
    from padless.data.dataset import Dataset

__all__ = ["SOURCES", "Dataset", "Source", "load_data", "resolve_data"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One ``[data] source``.

    ``kind``: ``"ready-made"`` (a named data set, usable as a DATA argument by its name),
    ``"file"`` (reads ``data.path``) or ``"synthetic"`` (generated from the settings).
    ``inputs``: what the examples are, ``"text"``, ``"numeric"`` (float (T, F)) or ``"ids"``
    (int64 token ids (T,)).
    """

    load: Callable[[DataConfig], Dataset]
    kind: Literal["ready-made", "file", "synthetic"]
    inputs: Literal["text", "numeric", "ids"]


# ----------------------------------------------------------------------------- loaders
def _need_path(cfg: DataConfig, what: str) -> str:
    if cfg.path is None:
        raise data_error(
            "config key 'data.path'",
            what,
            "nothing",
            'set data.path = "..." in the config (or --set data.path=...)',
        )
    return cfg.path


def _load_imdb_sample(cfg: DataConfig) -> Dataset:
    from padless.data.imdb import imdb_sample

    return imdb_sample()


def _load_imdb(cfg: DataConfig) -> Dataset:
    from padless.data.imdb import imdb

    return imdb(
        cfg.path,
        skip_empty=cfg.skip_empty,
        skip_bad_rows=cfg.skip_bad_rows,
        check_multiline=cfg.check_multiline,
    )


def _load_table(cfg: DataConfig) -> Dataset:
    from padless.data.text_table import read_text_table

    return read_text_table(
        _need_path(cfg, "a path to a CSV/TSV/JSONL/Parquet file"),
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        split_column=cfg.split_column,
        fmt=cfg.format,
        multilabel=cfg.multilabel,
        label_delimiter=cfg.label_delimiter,
        skip_empty=cfg.skip_empty,
        skip_bad_rows=cfg.skip_bad_rows,
        check_multiline=cfg.check_multiline,
        task=cfg.task,
        label_columns=cfg.label_columns,
    )


def _load_ts(cfg: DataConfig) -> Dataset:
    from padless.data.numeric import concat
    from padless.data.ts import read_ts, read_ts_pair

    path = Path(_need_path(cfg, "a UEA/UCR folder, Name prefix or Name_TRAIN.ts file"))
    read = partial(read_ts, nan_policy=cfg.nan_policy, skip_empty=cfg.skip_empty)
    if path.suffix.lower() != ".ts":
        return read_ts_pair(path, nan_policy=cfg.nan_policy, skip_empty=cfg.skip_empty)
    ds = read(path)
    if cfg.test_path is None:
        return ds
    test = read(cfg.test_path, split="test")
    return concat(ds, test, f"{ds.source} + {test.source}")


def _load_long_table(cfg: DataConfig) -> Dataset:
    from padless.data.long_table import read_long_table

    return read_long_table(
        _need_path(cfg, "a path to a CSV/TSV/JSONL/Parquet file with one row per time step"),
        id_column=cfg.id_column,
        label_column=cfg.label_column,
        step_column=cfg.step_column,
        split_column=cfg.split_column,
        format=cfg.format,
        nan_policy=cfg.nan_policy,
        skip_empty=cfg.skip_empty,
        skip_bad_rows=cfg.skip_bad_rows,
        check_multiline=cfg.check_multiline,
        task=cfg.task,
        multilabel=cfg.multilabel,
        label_delimiter=cfg.label_delimiter,
        label_columns=cfg.label_columns,
    )


def _synthetic(task: str, modulus: bool) -> Callable[[DataConfig], Dataset]:
    """The loader of a :data:`padless.data.synthetic.SYNTHETIC_TASKS` task; ``modulus``: the
    task takes ``k`` (``data.modulus``)."""

    def load(cfg: DataConfig) -> Dataset:
        from padless.data.synthetic import make_splits

        kwargs: dict[str, Any] = {"min_length": cfg.min_length, "max_length": cfg.max_length}
        if modulus:
            kwargs["k"] = cfg.modulus
        sizes = (cfg.train_size, cfg.valid_size, cfg.test_size)
        return make_splits(task, *sizes, seed=cfg.seed, **kwargs)

    return load


SOURCES: dict[str, Source] = {
    "imdb-sample": Source(_load_imdb_sample, "ready-made", "text"),
    "imdb": Source(_load_imdb, "ready-made", "text"),
    "table": Source(_load_table, "file", "text"),
    "ts": Source(_load_ts, "file", "numeric"),
    "long_table": Source(_load_long_table, "file", "numeric"),
    "sum_mod": Source(_synthetic("sum_mod", modulus=True), "synthetic", "ids"),
    "adding": Source(_synthetic("adding_problem", modulus=False), "synthetic", "numeric"),
    "running_sum_mod": Source(_synthetic("running_sum_mod", modulus=True), "synthetic", "ids"),
}


def load_data(cfg: DataConfig) -> Dataset:
    """Read the dataset a :class:`DataConfig` names; ``data.limit`` keeps a seeded subset."""
    import numpy as np

    source = SOURCES.get(cfg.source)
    if source is None:
        expected, fix = f"one of {list(SOURCES)}", "set data.source to a known source"
        raise data_error("config key 'data.source'", expected, repr(cfg.source), fix)
    ds = source.load(cfg)
    if ds.skipped:
        logger.warning("%s: skipped on request: %s", ds.source, ds.skipped)
    if cfg.limit is not None and cfg.limit < len(ds):
        rng = np.random.default_rng(0)
        ds = ds.subset(np.sort(rng.permutation(len(ds))[: cfg.limit]))
        logger.info("data.limit: using %d of the rows", cfg.limit)
    return ds


# ----------------------------------------------------------------------------- DATA arguments
_ARCHIVES = (".tar.gz", ".tgz", ".tar")


def _source_of_path(path: Path) -> str:
    """The source a path looks like: a folder or tar archive is IMDB's layout, a ``.ts`` file
    a UEA/UCR file, anything else a text table."""
    if path.is_dir() or path.name.lower().endswith(_ARCHIVES):
        return "imdb"
    return "ts" if path.suffix.lower() == ".ts" else "table"


def resolve_data(data: str, like: DataConfig, keep: Collection[str] = ()) -> DataConfig:
    """The :class:`DataConfig` that reads the DATA argument ``data`` the way ``like`` reads its
    data, with every row (``limit`` dropped).

    ``data`` is

    * ``imdb`` or ``imdb-sample``: that ready-made set;
    * a synthetic task name, which must be ``like.source`` (it is regenerated from ``like``'s
      settings: sizes, lengths, seed);
    * a path to an existing file or folder. Numeric sources (``ts``, ``long_table``) read it as
      ``like`` does; text sources (``table``, ``imdb``, ``imdb-sample``) go by the path: a
      folder or tar archive is read as IMDB, a ``.ts`` file as UEA/UCR, anything else as a text
      table, with ``like``'s columns (IMDB's ``text``, ``label``, ``split`` when ``like`` is
      IMDB). A synthetic ``like`` reads no path.

    ``padless evaluate`` passes the model's training config, ``padless lengths`` a ``table``
    (or ``long_table``) config, each with the column options of its command line applied;
    ``keep`` names those keys, which are never replaced (not by IMDB's columns either).
    """
    known = SOURCES.get(like.source)
    kind = SOURCES[data].kind if data in SOURCES else None
    if kind == "ready-made":
        return dataclasses.replace(like, source=data, path=None, limit=None)
    synthetic = known is not None and known.kind == "synthetic"
    names = "imdb, imdb-sample" + (f" or {like.source}" if synthetic else "")
    if kind == "synthetic":
        if data != like.source:
            expected = f"a path, {names} (a synthetic task is read only like its own settings)"
            raise data_error("DATA", expected, repr(data), "pass the file or folder to read")
        return dataclasses.replace(like, limit=None)
    path = Path(data)
    if not path.exists():
        expected = f"an existing file or folder (or {names})"
        raise data_error("DATA", expected, f"{data!r}: no such path", "check the path")
    if synthetic:
        expected = f"{like.source!r} (the settings are for synthetic data, which is not read)"
        raise data_error("DATA", expected, repr(data), f"pass {like.source}")
    source = like.source
    if known is not None and known.inputs == "text":
        source = _source_of_path(path)
        if like.source in ("imdb", "imdb-sample") and source == "table":
            imdb: dict[str, Any] = {"text_column": "text", "label_column": "label"}
            imdb["split_column"] = "split"  # the columns of an IMDB CSV, unless named by flags
            like = dataclasses.replace(like, **{k: v for k, v in imdb.items() if k not in keep})
    return dataclasses.replace(like, source=source, path=data, test_path=None, limit=None)
