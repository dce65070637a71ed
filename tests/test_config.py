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
        ["train.epochs=2", "data.path=x.csv", "model.bidirectional=false", "train.max_tokens=none"],
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
