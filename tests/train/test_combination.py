"""The combined model: the recurrent model's probabilities mixed with the linear n-gram
model's, the weight chosen on validation, saved, evaluated, exported and served as one."""

import json
import math

import numpy as np
import pytest
import torch

from padless.config import load_config
from padless.deploy import evaluate_artifact, export_artifact, load
from padless.models.mixture import mix_outputs
from padless.train.combination import WEIGHTS, choose_weight
from padless.train.loop import train
from tests.train.test_loop import write_table


@pytest.mark.parametrize("w", [0.1, 0.5, 1.0])
def test_the_mix_is_a_mix_of_probabilities(w):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 1, generator=g) * 3, torch.randn(6, 1, generator=g) * 3
    mixed = mix_outputs(a, b, w, "binary")
    want = (1 - w) * torch.sigmoid(a) + w * torch.sigmoid(b)
    torch.testing.assert_close(torch.sigmoid(mixed), want)
    a, b = torch.randn(6, 4, generator=g) * 3, torch.randn(6, 4, generator=g) * 3
    mixed = mix_outputs(a, b, w, "multiclass")
    want = (1 - w) * torch.softmax(a, -1) + w * torch.softmax(b, -1)
    torch.testing.assert_close(mixed.exp(), want)
    torch.testing.assert_close(mix_outputs(a, b, w, "regression"), (1 - w) * a + w * b)


def test_the_weight_is_the_best_on_validation_and_ties_keep_the_recurrent_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = np.where(y == 1, 4.0, -4.0)[:, None].astype(np.float32)
    noise = rng.normal(size=(200, 1)).astype(np.float32)
    w, values = choose_weight("binary", y, noise, good, "accuracy", False, 2)
    assert w > 0 and values[str(w)] == max(values.values()) == 1.0
    w, values = choose_weight("binary", y, good, noise, "accuracy", False, 2)
    assert w == 0.0  # the recurrent model alone already scores 1.0: the tie keeps it
    w, values = choose_weight("binary", y, noise, good, "loss", True, 2)
    assert values[str(w)] == min(values.values()) and w > 0
    assert list(values) == [str(x) for x in WEIGHTS]


TINY = [
    "data.source=table",
    "text.min_freq=1",
    "model.embedding_dim=8",
    "model.hidden_size=8",
    "train.batch_size=16",
    "data.valid_fraction=0.25",
]


def test_a_weak_recurrent_model_is_combined_and_the_mix_is_what_ships(tmp_path):
    data = write_table(tmp_path / "d.jsonl", n=200)
    # a learning rate that leaves the recurrent model near chance after one epoch
    cfg = load_config(None, [*TINY, f"data.path={data}", "train.epochs=1", "train.lr=1e-6"])
    metrics = train(cfg, tmp_path / "out", quiet=True)
    combination = metrics["combination"]
    assert combination["combined"] and combination["weight"] > 0
    assert combination["valid"][str(combination["weight"])] == pytest.approx(
        metrics["valid"]["accuracy"]
    )
    assert metrics["valid"]["accuracy"] > combination["valid"]["0.0"]
    assert metrics["baseline"]["name"] == "tfidf-logreg"  # fitted for the mix, reported too
    model_dir = tmp_path / "out" / "model"
    saved = json.loads((model_dir / "config.json").read_text())["model"]
    assert saved["mix_weight"] == combination["weight"] and saved["mix_path"]["kind"] == "ngram"
    # the artifact evaluates to the run's own test metrics
    again = evaluate_artifact(model_dir, str(data), split="test")
    assert again["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    # exports run the mix: each export checks itself against eager on a ragged batch
    assert export_artifact(model_dir, fmt="onnx")["max_abs_diff"] < 1e-4
    export_artifact(model_dir, fmt="torchscript")
    texts = ["red apple fire", "blue sea", "sky", "green leaf grass sky"]
    eager = load(model_dir).predict(texts)
    onnx = load(model_dir, backend="onnx").predict(texts)
    for e, o in zip(eager, onnx, strict=True):
        assert e["label"] == o["label"]
        for k in e["scores"]:
            assert math.isclose(e["scores"][k], o["scores"][k], abs_tol=1e-4)


def test_combine_off_keeps_the_recurrent_model(tmp_path):
    data = write_table(tmp_path / "d.jsonl", n=200)
    cfg = load_config(
        None,
        [*TINY, f"data.path={data}", "train.epochs=1", "train.lr=1e-6", "train.combine=off"],
    )
    metrics = train(cfg, tmp_path / "out", quiet=True)
    assert "combination" not in metrics and "baseline" not in metrics
    saved = json.loads((tmp_path / "out" / "model" / "config.json").read_text())["model"]
    assert "mix_path" not in saved


def test_a_refit_mixes_with_the_weight_its_hold_out_chose(tmp_path):
    data = write_table(tmp_path / "d.jsonl", n=200)
    cfg = load_config(
        None,
        [*TINY, f"data.path={data}", "train.epochs=1", "train.lr=1e-6", "data.valid_fraction=0"],
    )
    metrics = train(cfg, tmp_path / "out", quiet=True)
    chosen = json.loads((tmp_path / "out" / "selection" / "metrics.json").read_text())
    weight = chosen["combination"]["weight"]
    assert chosen["combination"]["combined"] and weight > 0
    assert metrics["combination"] == {"path": "tfidf-logreg", "weight": weight, "combined": True}
    saved = json.loads((tmp_path / "out" / "model" / "config.json").read_text())["model"]
    assert saved["mix_weight"] == weight


def test_numeric_series_mix_with_the_rocket_path_and_export(tmp_path):
    cfg = load_config(
        None,
        [
            "data.source=adding",
            "data.train_size=300",
            "data.valid_size=60",
            "data.test_size=60",
            "data.min_length=10",
            "data.max_length=30",
            "data.cache=false",
            "model.embedding_dim=8",
            "model.hidden_size=8",
            "model.bidirectional=false",
            "train.epochs=1",
            "train.num_threads=1",
        ],
    )
    metrics = train(cfg, tmp_path / "out", quiet=True)
    combination = metrics["combination"]
    assert combination["path"] == "rocket" and combination["monitor"] == "loss"
    assert combination["valid"][str(combination["weight"])] == min(combination["valid"].values())
    model_dir = tmp_path / "out" / "model"
    saved = json.loads((model_dir / "config.json").read_text())["model"]
    # one epoch of an 8-unit LSTM does not solve the adding problem; the rocket path does
    assert combination["combined"] and saved["mix_path"]["kind"] == "rocket"
    assert export_artifact(model_dir, fmt="onnx")["max_abs_diff"] < 1e-4
    export_artifact(model_dir, fmt="torchscript")
