import pytest

from padless.config import Config, load_config, parse_override
from padless.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_and_file_values(tmp_path):
    cfg = load_config(write(tmp_path, "[train]\nepochs = 7\nlr = 1\n[model]\ncell = 'gru'\n"))
    assert cfg.train.epochs == 7
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.model.cell == "gru"
    assert cfg.text == Config().text


def test_overrides_are_typed(tmp_path):
    cfg = load_config(
        write(tmp_path, ""),
        ["train.epochs=2", "data.source=table", "data.path=x.csv", "model.bidirectional=false"]
        + ["train.max_tokens=none"],
    )
    assert cfg.train.epochs == 2 and cfg.data.path == "x.csv"
    assert cfg.model.bidirectional is False and cfg.train.max_tokens is None
    cfg = load_config(None, ["pretrain.epochs=2", "pretrain.negatives=64"])
    assert (cfg.pretrain.epochs, cfg.pretrain.negatives) == (2, 64)


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.train.epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[train]\nepochz = 3\n", "train.epochz"),
        ("[trian]\nepochs = 3\n", "[trian]"),
        ("[train]\nepochs = 'three'\n", "train.epochs"),
        ("[model]\ncell = 'lstn'\n", "model.cell"),
        ("[pretrain]\nepochs = -1\n", "pretrain.epochs"),
        ("[pretrian]\nepochs = 1\n", "[pretrain]"),
        ("[train]\nepochs = \n", "parse error"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    msg = str(err.value)
    assert fragment in msg and "expected" in msg


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        load_config(None, ["train.epochz=3"])


def test_override_errors():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.epochs")
    with pytest.raises(ConfigError, match="stage.key"):
        parse_override("epochs=3")
    with pytest.raises(ConfigError, match="stage"):
        load_config(None, ["trainer.epochs=3"])


def test_missing_file():
    with pytest.raises(ConfigError, match="no such file"):
        load_config("does/not/exist.toml")


def test_shipped_configs_load():
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "configs").glob("*.toml")):
        load_config(path)


# ------------------------------------------------------------- [data] keys the source ignores
def test_a_data_key_the_source_ignores_is_refused_naming_what_does_its_job(tmp_path):
    """data.max_length is a synthetic length: on a table it truncates nothing."""
    with pytest.raises(ConfigError) as err:
        load_config(None, ["data.source=table", "data.path=x.csv", "data.max_length=50"])
    msg = str(err.value)
    assert "--set data.max_length=50" in msg and "'table'" in msg
    assert "text.max_length truncates texts" in msg and "remove data.max_length" in msg
    toml = "[data]\nsource = 'ts'\npath = 'x'\nmax_length = 50\n"
    with pytest.raises(ConfigError, match=r"c.toml: key 'data.max_length'.*data.max_steps"):
        load_config(write(tmp_path, toml))
    with pytest.raises(ConfigError, match=r"data.train_size.*'imdb-sample' ignores.*data.limit"):
        load_config(None, ["data.train_size=20"])
    with pytest.raises(ConfigError, match=r"data.log_scale.*data.log_transform = true"):
        load_config(None, ["data.source=adding", "data.log_scale=0.01"])  # needs log_transform


def test_data_keys_the_source_reads_are_accepted():
    cfg = load_config(None, ["data.source=sum_mod", "data.max_length=50", "data.seed=3"])
    assert (cfg.data.max_length, cfg.data.seed) == (50, 3)
    sets = ["data.source=table", "data.path=x.csv", "data.text_column=body", "data.limit=9"]
    cfg = load_config(None, [*sets, "data.seed=4", "data.cache=false", "data.encode_workers=2"])
    assert (cfg.data.text_column, cfg.data.seed) == ("body", 4)  # seed: data.limit's draw
    cfg = load_config(None, ["data.source=ts", "data.log_transform=true", "data.log_scale=0.1"])
    assert cfg.data.log_scale == 0.1
    # Keys not given are never refused, whatever their value (a saved config.json has all).
    from padless.config import config_from_dict

    saved = load_config(None, ["data.source=table", "data.path=x.csv"]).to_dict()
    assert config_from_dict(saved).data.max_length == 100


def test_every_data_key_is_classified():
    """A DataConfig field added without a row in DATA_KEYS fails here: say which sources
    read it (and so whether setting it elsewhere is refused)."""
    import dataclasses

    from padless.config import DataConfig
    from padless.data.sources import DATA_KEY_ALSO, DATA_KEY_NEEDS, DATA_KEYS, SOURCES

    assert set(DATA_KEYS) == {f.name for f in dataclasses.fields(DataConfig)}
    for key, readers in DATA_KEYS.items():
        assert readers and set(readers) <= set(SOURCES), key
    assert set(DATA_KEY_ALSO) | set(DATA_KEY_NEEDS) <= set(DATA_KEYS)
    assert set(DATA_KEY_ALSO.values()) | {k for k, _ in DATA_KEY_NEEDS.values()} <= set(DATA_KEYS)
    for key in ("source", "task", "valid_fraction", "limit", "cache", "cache_dir"):
        assert DATA_KEYS[key] == tuple(SOURCES), key  # apply to every source


def test_shipped_examples_load():
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "examples").glob("*.toml")):
        load_config(path)
