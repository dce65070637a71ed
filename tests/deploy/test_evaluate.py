"""``padless evaluate`` (padless.deploy.evaluate): a saved model scored on data read the way its
training data was read."""

import json
import re

import pytest

from padless.cli import main
from padless.config import load_config
from padless.deploy.evaluate import evaluate_artifact
from padless.errors import DataError
from padless.train.loop import train


def test_evaluate_matches_training_metrics(tagging_run, capsys, tmp_path):
    _, out = tagging_run
    saved = json.loads((out / "metrics.json").read_text())["test"]
    result = evaluate_artifact(out / "model", "running_sum_mod")
    assert result["split"] == "test" and result["accuracy"] == saved["accuracy"]
    assert (
        main(
            ["evaluate", str(out / "model"), "running_sum_mod", "--json", str(tmp_path / "m.json")]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "running_sum_mod" in printed
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == saved["accuracy"]
    assert (
        main(
            [
                "evaluate",
                str(out / "model"),
                "running_sum_mod",
                "--format",
                "json",
                "--split",
                "valid",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["split"] == "valid"


def test_evaluate_text_model_on_a_table(tmp_path, capsys):
    cfg = load_config(
        None,
        [
            "data.limit=300",
            "model.hidden_size=8",
            "model.embedding_dim=8",
            "train.epochs=1",
            "text.max_length=32",
        ],
    )
    train(cfg, tmp_path / "out", quiet=True)
    table = tmp_path / "new.csv"
    table.write_text("text,label\na great film,pos\nawful and dull,neg\nfine,pos\n")
    assert main(["evaluate", str(tmp_path / "out" / "model"), str(table)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"examples\s+3\b", text) and "roc_auc" in text
    table.write_text("text,label\na great film,great\n")
    with pytest.raises(DataError, match="'great'"):
        evaluate_artifact(tmp_path / "out" / "model", str(table))
    with pytest.raises(DataError, match="no such path"):
        evaluate_artifact(tmp_path / "out" / "model", str(tmp_path / "missing.csv"))
