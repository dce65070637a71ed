"""The baseline beside every run: fitted on the very same splits, scored like the model."""

import json
import subprocess
import sys

import numpy as np
import pytest

from padless.config import load_config
from padless.encode.prepared import prepare
from padless.errors import ConfigError
from padless.evaluation.baseline import compare, fit_baseline, format_comparison
from tests.train.test_loop import write_table


def _prepared(tmp_path, *extra):
    data = write_table(tmp_path / "d.jsonl", n=200)
    cfg = load_config(
        None,
        ["data.source=table", f"data.path={data}", "text.min_freq=1", "data.cache=false", *extra],
    )
    return prepare(cfg)


def test_the_text_baseline_is_scored_on_every_split_like_the_model(tmp_path):
    data = _prepared(tmp_path)
    fitted = fit_baseline(data)
    report = fitted.report
    assert report["name"] == "tfidf-logreg" and report["params"]["C"] in report["params"]["grid"]
    assert set(data.splits) <= set(report)
    for name, split in data.splits.items():
        assert report[name]["examples"] == len(split)
    # the words decide the label: the linear model gets them
    assert report["test"]["accuracy"] >= 0.9
    # the scores are the fitted model's own outputs
    out = fitted.model.outputs(data.splits["test"].inputs)
    want = np.mean(out.argmax(axis=1) == np.asarray(data.splits["test"].targets))
    assert report["test"]["accuracy"] == pytest.approx(want)


def test_compare_puts_the_model_beside_the_baseline():
    model = {"valid": {"accuracy": 0.8, "loss": 0.4}, "test": {"accuracy": 0.7, "macro_f1": 0.6}}
    base = {"valid": {"accuracy": 0.75}, "test": {"accuracy": 0.72, "macro_f1": 0.7}}
    rows = compare(model, base)
    assert [(r["split"], r["metric"]) for r in rows] == [
        ("valid", "accuracy"),
        ("test", "accuracy"),
        ("test", "macro_f1"),
    ]
    assert rows[1]["difference"] == pytest.approx(-0.02)
    table = format_comparison(rows, "tfidf-logreg")
    assert "tfidf-logreg" in table and "-0.0200" in table


def test_tagging_has_no_baseline_and_says_so(tmp_path):
    cfg = load_config(
        None,
        [
            "data.source=running_sum_mod",
            "data.task=tagging",
            "data.train_size=50",
            "data.valid_size=10",
            "data.test_size=10",
            "data.max_length=5",
            "data.cache=false",
        ],
    )
    with pytest.raises(ConfigError, match="tagging"):
        fit_baseline(prepare(cfg))


def test_the_baseline_command_on_a_table(tmp_path):
    data = write_table(tmp_path / "d.jsonl", n=200)
    out = tmp_path / "b.json"
    done = subprocess.run(
        [sys.executable, "-m", "padless", "-q", "baseline", str(data), "--json", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["name"] == "tfidf-logreg" and line["test"]["accuracy"] >= 0.9
    assert json.loads(out.read_text())["test"]["accuracy"] == line["test"]["accuracy"]
