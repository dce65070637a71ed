"""Losses by task, split evaluation invariance, and ``padless evaluate`` on a saved model."""

import json
import re

import numpy as np
import pytest
import torch

from padless.batching.collate import IGNORE_INDEX
from padless.cli import main
from padless.config import load_config
from padless.deploy.evaluate import evaluate_artifact
from padless.encode.splits import prepare
from padless.errors import DataError
from padless.evaluation.losses import compute_loss, correct_count
from padless.evaluation.runner import run_split
from padless.train.loop import train


def test_tagging_loss_ignores_padded_steps():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3)
    targets = torch.tensor([[0, 2, 1, IGNORE_INDEX], [1, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    real = [(0, 0), (0, 1), (0, 2), (1, 0)]
    manual = torch.stack(
        [
            torch.nn.functional.cross_entropy(logits[b, t][None], targets[b, t][None])
            for b, t in real
        ]
    )
    torch.testing.assert_close(compute_loss(logits, targets, "tagging"), manual.mean())
    # changing the logits at padded steps changes nothing
    noisy = logits.clone()
    noisy[0, 3] += 100
    noisy[1, 1:] -= 100
    torch.testing.assert_close(compute_loss(noisy, targets, "tagging"), manual.mean())
    assert correct_count(noisy, targets, "tagging")[1] == 4


def test_losses_by_task():
    logits = torch.tensor([[2.0], [-1.0]])
    y = torch.tensor([1, 0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    torch.testing.assert_close(compute_loss(logits, y, "binary"), expected)
    reg = compute_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 3.0]), "regression")
    assert float(reg) == pytest.approx(0.5)
    ml = compute_loss(torch.zeros(2, 3), torch.ones(2, 3), "multilabel")
    assert float(ml) == pytest.approx(np.log(2), rel=1e-6)


@pytest.fixture(scope="module")
def tagging_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tag") / "out"
    cfg = load_config(
        None,
        [
            "data.source=running_sum_mod",
            "data.task=tagging",
            "data.train_size=300",
            "data.valid_size=50",
            "data.test_size=80",
            "data.max_length=15",
            "data.modulus=3",
            "model.hidden_size=16",
            "model.embedding_dim=8",
            "model.bidirectional=false",
            "train.epochs=2",
            # `padless evaluate` runs on the CPU: train there too, so "the same numbers" is
            # exact on a machine with a GPU as well (cuDNN's kernels round differently).
            "train.device=cpu",
        ],
    )
    train(cfg, out, quiet=True)
    return cfg, out


def test_split_metrics_do_not_depend_on_batch_size(tagging_run):
    cfg, out = tagging_run
    import padless

    model = padless.load(out / "model").artifact.model
    prep = prepare(cfg)
    results = [
        run_split(model, prep.splits["test"], prep.labels, batch_size=b) for b in (1, 7, 256)
    ]
    for r in results[1:]:
        assert r["accuracy"] == results[0]["accuracy"]
        assert r["confusion_matrix"] == results[0]["confusion_matrix"]
        assert r["loss"] == pytest.approx(results[0]["loss"], rel=1e-5)


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
