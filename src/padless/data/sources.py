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

:func:`load_data` reads what a config names (``data.limit`` keeps a seeded subset of each
split, :func:`limit_rows`).
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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from padless.errors import data_error

if TYPE_CHECKING:
    import numpy as np

    from padless.config import DataConfig
    from padless.data.dataset import Dataset

__all__ = [
    "DATA_KEYS",
    "SOURCES",
    "Dataset",
    "Source",
    "limit_rows",
    "load_data",
    "resolve_data",
    "unused_data_key",
]

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


# ----------------------------------------------------------------------------- [data] keys
def _named(*kinds: str) -> tuple[str, ...]:
    """The sources whose kind of input, or kind, is one of ``kinds``."""
    return tuple(n for n, s in SOURCES.items() if s.inputs in kinds or s.kind in kinds)


_EVERY = tuple(SOURCES)
_TABLES = ("table", "long_table")
_READ = ("imdb", "table", "ts", "long_table")  # the sources that read files (not the sample)

#: The sources that read each ``[data]`` key, the one place that says it (a key set for a
#: source not listed does nothing, and :func:`padless.config.load_config` refuses it). Found by
#: reading the loaders above and the encoding (:mod:`padless.encode`): ``task``,
#: ``valid_fraction`` and ``limit`` apply to every dataset; ``cache``, ``cache_dir`` and
#: ``encode_workers`` say how data is prepared, not what it is, so a config shared across
#: sources may keep them (they only act on cached, streamed data). ``seed`` also applies to
#: any source with ``limit`` (:data:`DATA_KEY_ALSO`).
DATA_KEYS: dict[str, tuple[str, ...]] = {
    "source": _EVERY,
    "path": _READ,
    "test_path": ("ts",),
    "format": _TABLES,
    "task": _EVERY,
    "text_column": ("table",),
    "label_column": _TABLES,
    "label_columns": _TABLES,
    "split_column": _TABLES,
    "id_column": ("long_table",),
    "step_column": ("long_table",),
    "multilabel": _TABLES,
    "label_delimiter": _TABLES,
    "skip_empty": _READ,
    "skip_bad_rows": ("imdb", *_TABLES),
    "check_multiline": ("imdb", *_TABLES),
    "nan_policy": ("ts", "long_table"),
    "log_transform": _named("numeric"),
    "log_scale": _named("numeric"),  # and only with log_transform (DATA_KEY_NEEDS)
    "normalize": _named("numeric"),
    "max_steps": _named("numeric", "ids"),
    "patch_size": _named("numeric"),
    "valid_fraction": _EVERY,
    "limit": _EVERY,
    "cache": _EVERY,
    "cache_dir": _EVERY,
    "encode_workers": _EVERY,
    "seed": _named("synthetic"),  # and every source with limit (DATA_KEY_ALSO)
    "train_size": _named("synthetic"),
    "valid_size": _named("synthetic"),
    "test_size": _named("synthetic"),
    "min_length": _named("synthetic"),
    "max_length": _named("synthetic"),
    "modulus": ("sum_mod", "running_sum_mod"),
}

#: Keys that apply to any source once another key is set: ``seed`` draws ``limit``'s rows.
DATA_KEY_ALSO: dict[str, str] = {"seed": "limit"}
#: Keys that do nothing unless another key is true: (that key, the fix).
DATA_KEY_NEEDS: dict[str, tuple[str, str]] = {
    "log_scale": ("log_transform", "set data.log_transform = true (log_scale is its scale)")
}
_SEED = "train.seed draws the validation split; data.seed draws data.limit's rows"
_SIZES = "data.limit keeps a subset of the rows; data.valid_fraction sizes the valid split"
#: What does the job of a key the source ignores, by (key, the source's kind of input).
_INSTEAD: dict[tuple[str, str], str] = {
    ("max_length", "text"): "text.max_length truncates texts",
    ("max_length", "numeric"): "data.max_steps cuts sequences",
    ("max_steps", "text"): "text.max_length truncates texts",
    **{("seed", inputs): _SEED for inputs in ("text", "numeric")},
    **{
        ("test_path", inputs): "data.split_column marks test rows" for inputs in ("text", "numeric")
    },
    **{
        (k, i): _SIZES
        for k in ("train_size", "valid_size", "test_size")
        for i in ("text", "numeric")
    },
}


def unused_data_key(cfg: DataConfig, key: str) -> tuple[str, str, str] | None:
    """``(expected, got, fix)`` when the ``[data]`` key ``key`` does nothing in ``cfg``, else None.

    A key that nothing reads under these settings is worth an error: whoever set it believes
    it changed the data (``data.max_length`` on a table truncates nothing; ``text.max_length``
    does)."""
    source = SOURCES.get(cfg.source)
    if source is None:
        return None  # refused as an unknown source
    also = DATA_KEY_ALSO.get(key)
    if cfg.source not in DATA_KEYS[key] and (also is None or getattr(cfg, also) is None):
        readers = ", ".join(DATA_KEYS[key]) + (f"; any source with data.{also}" if also else "")
        fix = f"remove data.{key} (it is read by source {readers})"
        instead = _INSTEAD.get((key, source.inputs))
        expected = f"a [data] key that source {cfg.source!r} reads"
        got = f"data.{key}, which source {cfg.source!r} ignores"
        return expected, got, f"{fix}; {instead}" if instead else fix
    needs = DATA_KEY_NEEDS.get(key)
    if needs is not None and not getattr(cfg, needs[0]):
        expected = f"data.{key} together with data.{needs[0]} = true"
        return expected, f"data.{key} with data.{needs[0]} = false", needs[1]
    return None


def load_data(cfg: DataConfig) -> Dataset:
    """Read the dataset a :class:`DataConfig` names; ``data.limit`` keeps a seeded subset of
    every split (:func:`limit_rows`)."""
    source = SOURCES.get(cfg.source)
    if source is None:
        expected, fix = f"one of {list(SOURCES)}", "set data.source to a known source"
        raise data_error("config key 'data.source'", expected, repr(cfg.source), fix)
    ds = source.load(cfg)
    if ds.skipped:
        logger.warning("%s: skipped on request: %s", ds.source, ds.skipped)
    if cfg.limit is not None:
        ds = ds.subset(limit_rows(ds.splits, cfg.limit, cfg.seed))
    return ds


_SPLIT_ORDER = ("train", "valid", "test")


def limit_rows(splits: Sequence[str | None], limit: int, seed: int) -> np.ndarray:
    """The rows ``data.limit`` keeps, in file order: ``limit`` of them shared among the splits
    in proportion to their sizes (largest remainders get the rows rounding leaves), at least
    one of each non-empty split, drawn within each split by ``seed``. A smaller run then has
    the same train / valid / test balance as the full one, and its test split is still a
    test split. Rows without a split count as train (where they go). Logs what it kept."""
    import numpy as np

    names = np.array([s if s is not None else "train" for s in splits], dtype=object)
    order = [s for s in _SPLIT_ORDER if s in set(names)]
    order += sorted(set(names) - set(order))
    members = {s: np.flatnonzero(names == s) for s in order}
    quota = _shares([len(members[s]) for s in order], limit)
    rng = np.random.default_rng(seed)
    kept = [np.sort(rng.permutation(members[s])[:q]) for s, q in zip(order, quota, strict=True)]
    parts = ", ".join(f"{s} {q} of {len(members[s])}" for s, q in zip(order, quota, strict=True))
    logger.info("data.limit %d: kept %s", limit, parts)
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


def _shares(sizes: list[int], limit: int) -> list[int]:
    """``limit`` split over groups of ``sizes`` in proportion (largest remainder method), at
    least one per non-empty group (so a few more than ``limit`` when it is below the number of
    groups), at most the group's size."""
    total = sum(sizes)
    if limit >= total:
        return list(sizes)
    exact = [limit * n / total for n in sizes]
    quota = [min(n, max(1, int(e))) if n else 0 for n, e in zip(sizes, exact, strict=True)]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (int(exact[i]) - exact[i], i))
    while sum(quota) < limit:
        for i in by_remainder:
            if sum(quota) < limit and quota[i] < sizes[i]:
                quota[i] += 1
    while sum(quota) > limit and max(quota) > 1:
        quota[quota.index(max(quota))] -= 1
    return quota


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
