"""Tests for padless.data.sources: the ``[data] source`` registry (every name is a config
choice and loads) and what a DATA argument means (:func:`resolve_data`)."""

from __future__ import annotations

import dataclasses
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from padless.config import DataConfig, load_config
from padless.data.dataset import SequenceDataset, TextDataset
from padless.data.sources import SOURCES, load_data, resolve_data
from padless.errors import ConfigError, DataError
from tests.data.files import HEADER_MULTI, write

TEXT_CSV = (
    "text,label,split\ngood film,pos,train\nbad film,neg,train\nfine,pos,test\nmeh,neg,test\n"
)
LONG_CSV = "sid,t,x,label,split\na,0,1,p,train\na,1,2,p,train\nb,0,3,q,test\n"
SMALL = {"train_size": 6, "valid_size": 2, "test_size": 3, "max_length": 5}


def _ts_pair(tmp_path: Path) -> Path:
    folder = tmp_path / "Toy"
    folder.mkdir()
    write(folder / "Toy_TRAIN.ts", HEADER_MULTI + "1,2:3,4:a\n5:6:b\n")
    write(folder / "Toy_TEST.ts", HEADER_MULTI + "7:8:c\n")
    return folder


# name -> (data settings for tmp_path, rows expected)
CASES: dict[str, tuple[Callable[[Path], dict], int]] = {
    "imdb-sample": (lambda tmp: {}, 2500),
    "imdb": (lambda tmp: {"path": str(write(tmp / "imdb.csv", TEXT_CSV))}, 4),
    "table": (lambda tmp: {"path": str(write(tmp / "t.csv", TEXT_CSV))}, 4),
    "ts": (lambda tmp: {"path": str(_ts_pair(tmp))}, 3),
    "long_table": (
        lambda tmp: {"path": str(write(tmp / "l.csv", LONG_CSV)), "id_column": "sid"},
        2,
    ),
    "sum_mod": (lambda tmp: SMALL, 11),
    "adding": (lambda tmp: {**SMALL, "min_length": 2}, 11),
    "running_sum_mod": (lambda tmp: SMALL, 11),
}


# ----------------------------------------------------------------------------- registry
def test_the_config_choices_are_the_registry():
    assert set(CASES) == set(SOURCES)  # a new source needs a case here
    for name in SOURCES:
        assert load_config(None, [f"data.source={name}"]).data.source == name
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["data.source=csv"])
    assert all(name in str(exc.value) for name in SOURCES)


@pytest.mark.parametrize("name", list(CASES))
def test_every_source_loads(name, tmp_path):
    settings, rows = CASES[name]
    ds = load_data(DataConfig(source=name, **settings(tmp_path)))
    assert len(ds) == rows
    kind = SOURCES[name].inputs
    assert isinstance(ds, TextDataset if kind == "text" else SequenceDataset)


def test_load_data_limit_unknown_source_and_missing_path(tmp_path):
    ds = load_data(DataConfig(source="table", path=str(write(tmp_path / "t.csv", TEXT_CSV))))
    limited = load_data(DataConfig(source="table", path=ds.source, limit=2))
    assert len(limited) == 2 and set(limited.texts) <= set(ds.texts)
    with pytest.raises(DataError, match="'data.source'.*'csv'"):
        load_data(DataConfig(source="csv"))
    for name in ("table", "ts", "long_table"):
        with pytest.raises(DataError, match="data.path"):
            load_data(DataConfig(source=name))


def test_ts_file_plus_test_path(tmp_path):
    folder = _ts_pair(tmp_path)
    train, test = folder / "Toy_TRAIN.ts", folder / "Toy_TEST.ts"
    ds = load_data(DataConfig(source="ts", path=str(train), test_path=str(test)))
    assert ds.splits == ["train", "train", "test"] and " + " in ds.source
    assert load_data(DataConfig(source="ts", path=str(train))).splits == ["train", "train"]


# ----------------------------------------------------------------------------- DATA
def test_ready_made_names_keep_the_other_settings():
    like = DataConfig(source="table", path="x.csv", limit=5, skip_empty=True)
    for name in ("imdb", "imdb-sample"):
        cfg = resolve_data(name, like)
        assert (cfg.source, cfg.path, cfg.limit, cfg.skip_empty) == (name, None, None, True)


def test_a_synthetic_task_is_read_only_like_its_own_settings():
    like = DataConfig(source="sum_mod", modulus=3, limit=10)
    assert resolve_data("sum_mod", like) == dataclasses.replace(like, limit=None)
    with pytest.raises(DataError, match="'adding'"):
        resolve_data("adding", like)
    with pytest.raises(DataError, match="'running_sum_mod'"):
        resolve_data("running_sum_mod", DataConfig(source="imdb"))


def test_paths_must_exist_and_synthetic_settings_read_none(tmp_path):
    with pytest.raises(DataError, match="no such path"):
        resolve_data(str(tmp_path / "missing.csv"), DataConfig(source="table"))
    with pytest.raises(DataError, match="no such path"):  # a file source's name is no DATA
        resolve_data("table", DataConfig(source="table"))
    table = write(tmp_path / "t.csv", TEXT_CSV)
    with pytest.raises(DataError, match="synthetic"):
        resolve_data(str(table), DataConfig(source="sum_mod"))


def test_text_settings_go_by_the_path(tmp_path):
    table = write(tmp_path / "t.jsonl", "{}\n")
    ts = write(tmp_path / "x.ts", "")
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz"):
        pass
    like = DataConfig(source="table", text_column="review", label_column="y", limit=3)
    for data, source in [(table, "table"), (ts, "ts"), (archive, "imdb"), (tmp_path, "imdb")]:
        cfg = resolve_data(str(data), like)
        assert (cfg.source, cfg.path, cfg.limit) == (source, str(data), None)
        assert (cfg.text_column, cfg.label_column) == ("review", "y")  # like's columns


def test_imdb_settings_read_a_table_with_imdb_columns(tmp_path):
    table = write(tmp_path / "t.csv", TEXT_CSV)
    like = DataConfig(source="imdb-sample", text_column="body", split_column=None)
    cfg = resolve_data(str(table), like)
    assert cfg.source == "table" and cfg.path == str(table)
    assert (cfg.text_column, cfg.label_column, cfg.split_column) == ("text", "label", "split")
    assert len(load_data(cfg)) == 4


def test_numeric_settings_read_the_path_as_trained(tmp_path):
    folder = _ts_pair(tmp_path)
    like = DataConfig(source="ts", path="old/Toy", test_path="old/Toy_TEST.ts", nan_policy="zero")
    cfg = resolve_data(str(folder), like)
    assert (cfg.source, cfg.path, cfg.test_path, cfg.nan_policy) == (
        "ts",
        str(folder),
        None,
        "zero",
    )
    assert len(load_data(cfg)) == 3
    long = write(tmp_path / "l.csv", LONG_CSV)
    cfg = resolve_data(str(long), DataConfig(source="long_table", id_column="sid"))
    assert cfg.source == "long_table" and load_data(cfg).ids == ["a", "b"]


def test_limit_keeps_every_split_in_proportion_and_says_so(caplog):
    """data.limit shares its rows among the splits by size (at least one each), drawn by
    data.seed, kept in file order, and logs what it kept."""
    import logging

    import numpy as np

    from padless.data.sources import limit_rows

    splits = ["train"] * 600 + ["test"] * 300 + [None] * 300 + ["valid"] * 2
    with caplog.at_level(logging.INFO, logger="padless.data.sources"):
        rows = limit_rows(splits, 120, seed=0)
    assert "data.limit 120: kept train 89 of 900, valid 1 of 2, test 30 of 300" in caplog.text
    kept = [splits[i] or "train" for i in rows]
    assert len(rows) == 120 and (kept.count("train"), kept.count("test")) == (89, 30)
    assert rows.tolist() == sorted(set(rows.tolist()))  # file order, no repeats
    assert np.array_equal(rows, limit_rows(splits, 120, seed=0))
    assert not np.array_equal(rows, limit_rows(splits, 120, seed=1))
    assert limit_rows(splits, 5000, seed=0).tolist() == list(range(len(splits)))
    assert len(limit_rows(["train", "test", "valid"], 1, seed=0)) == 3  # one of each split


def test_load_data_limit_applies_per_split_with_the_seed(tmp_path):
    path = write(tmp_path / "t.csv", TEXT_CSV)
    full = load_data(DataConfig(source="table", path=str(path)))
    ds = load_data(DataConfig(source="table", path=str(path), limit=2, seed=5))
    assert len(ds) == 2 and set(ds.texts) <= set(full.texts)
    assert {s or "train" for s in ds.splits} == {s or "train" for s in full.splits}
