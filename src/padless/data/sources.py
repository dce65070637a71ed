"""Input pipeline: a :class:`~padless.config.DataConfig` → encoded train / valid / test splits,
and the fitted transform that is saved with the model so inference encodes exactly as training.

Three input kinds (``InputPipeline.kind``):

* ``text``: raw strings → :class:`~padless.text.TextEncoder` (clean, tokenize, vocabulary fitted
  on train, truncate) → int64 ids (T,).
* ``ids``: integer token ids given directly (e.g. :func:`padless.datasets.sum_mod`): checked
  against the vocabulary size seen in train; 0 is padding and never a valid id.
* ``numeric``: float features (T, F) → optional sign(x)·log(1 + |x|/s) (``data.log_transform``,
  ``data.log_scale`` s)
  → :class:`~padless.timeseries.Normalizer` fitted on the train split only
  (``data.normalize``) → float32 (T, F).

Sequences longer than ``data.max_steps`` (numeric / ids) or ``text.max_length`` (text) are cut,
keeping the head; both are recorded in the artifact. ``data.patch_size = k`` (numeric) then
folds every k consecutive steps into one step of k*F features (the last, partial patch repeats
its final step), so long raw signals become k times shorter sequences; T' = ceil(T / k).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from padless.config import DataConfig
from padless.data.dataset import SequenceDataset, TextDataset
from padless.data.imdb import imdb, imdb_sample
from padless.data.long_table import read_long_table
from padless.data.numeric import concat
from padless.data.synthetic import make_splits
from padless.data.text_table import read_text_table
from padless.data.ts import read_ts, read_ts_pair
from padless.errors import data_error

logger = logging.getLogger(__name__)

Dataset = TextDataset | SequenceDataset


SYNTHETIC = {"sum_mod": "sum_mod", "adding": "adding_problem", "running_sum_mod": "running_sum_mod"}


def _need_path(cfg: DataConfig, what: str) -> str:
    if cfg.path is None:
        raise data_error(
            "config key 'data.path'",
            what,
            "nothing",
            'set data.path = "..." in the config (or --set data.path=...)',
        )
    return cfg.path


def load_data(cfg: DataConfig) -> Dataset:
    """Read the dataset a :class:`DataConfig` names; ``data.limit`` keeps a seeded subset."""
    src = cfg.source
    if src == "imdb-sample":
        ds: Dataset = imdb_sample()
    elif src == "imdb":
        ds = imdb(cfg.path, skip_empty=cfg.skip_empty)
    elif src == "table":
        ds = read_text_table(
            _need_path(cfg, "a path to a CSV/TSV/JSONL/Parquet file"),
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            split_column=cfg.split_column,
            fmt=cfg.format,
            multilabel=cfg.multilabel,
            label_delimiter=cfg.label_delimiter,
            skip_empty=cfg.skip_empty,
        )
    elif src == "ts":
        path = Path(_need_path(cfg, "a UEA/UCR folder, Name prefix or Name_TRAIN.ts file"))
        kw = {"nan_policy": cfg.nan_policy, "skip_empty": cfg.skip_empty}
        if path.suffix.lower() == ".ts":
            ds = read_ts(path, **kw)
            if cfg.test_path is not None:
                test = read_ts(cfg.test_path, split="test", **kw)
                ds = concat(ds, test, f"{ds.source} + {test.source}")
        else:
            ds = read_ts_pair(path, **kw)
    elif src == "long_table":
        ds = read_long_table(
            _need_path(cfg, "a path to a CSV/TSV/Parquet file with one row per time step"),
            id_column=cfg.id_column,
            label_column=cfg.label_column,
            step_column=cfg.step_column,
            split_column=cfg.split_column,
            format=cfg.format,
            nan_policy=cfg.nan_policy,
            skip_empty=cfg.skip_empty,
        )
    else:  # synthetic tasks
        kwargs: dict[str, Any] = {"min_length": cfg.min_length, "max_length": cfg.max_length}
        if src != "adding":
            kwargs["k"] = cfg.modulus
        ds = make_splits(
            SYNTHETIC[src], cfg.train_size, cfg.valid_size, cfg.test_size, seed=cfg.seed, **kwargs
        )
    if ds.skipped:
        logger.warning("%s: skipped on request: %s", ds.source, ds.skipped)
    if cfg.limit is not None and cfg.limit < len(ds):
        rng = np.random.default_rng(0)
        ds = ds.subset(np.sort(rng.permutation(len(ds))[: cfg.limit]))
        logger.info("data.limit: using %d of the rows", cfg.limit)
    return ds
