"""Data without a validation split: the epoch count is chosen on a held-out share of train,
then the model is refit on all of train for that count (padless.train.selection)."""

import json

import pytest

from padless.config import load_config
from padless.errors import ConfigError
from padless.train.loop import train
from padless.train.selection import refit_from

BASE = [
    "data.source=sum_mod",
    "data.train_size=300",
    "data.valid_size=0",
    "data.test_size=60",
    "data.min_length=1",
    "data.max_length=8",
    "data.valid_fraction=0",
    "model.embedding_dim=8",
    "model.hidden_size=12",
    "train.batch_size=32",
    "train.lr=0.02",
    "train.epochs=6",
    "train.early_stopping=2",
]


def _config(*extra):
    return load_config(None, [*BASE, *extra])


def test_a_run_without_validation_chooses_its_epochs_on_a_hold_out_then_refits(tmp_path):
    out = tmp_path / "run"
    metrics = train(_config(), out, quiet=True)
    chosen = json.loads((out / "selection" / "metrics.json").read_text())
    # the selection held out 15% of the 300 training rows and evaluated only that split
    assert set(k for k in ("train", "valid", "test") if k in chosen) == {"valid"}
    assert chosen["config"]["data"]["valid_fraction"] == 0.15
    epochs = chosen["best_epoch"]
    assert 1 <= epochs <= 6
    assert metrics["selection"]["epochs"] == epochs
    assert metrics["selection"]["epochs_run"] == len(chosen["history"])
    # the refit trains on all of train (no valid split) for exactly that count, last epoch kept
    assert "valid" not in metrics
    assert metrics["epochs_completed"] == epochs == metrics["best_epoch"]
    assert metrics["train"]["examples"] == 300
    # ...replaying the held-out run's per-epoch learning rates (plateau)
    assert [r["lr"] for r in metrics["history"]] == [r["lr"] for r in chosen["history"][:epochs]]
    assert metrics["selection"]["lr"] == [r["lr"] for r in chosen["history"][:epochs]]
    # metrics.json records the config as given (the ceiling), not the refit's
    assert metrics["config"]["train"]["epochs"] == 6
    assert (out / "model").is_dir() and not (out / "selection" / "model").exists()


def test_resume_after_the_run_reads_the_selection_back_and_ends_the_same(tmp_path):
    out = tmp_path / "run"
    first = train(_config(), out, quiet=True)
    stamp = (out / "selection" / "metrics.json").stat().st_mtime_ns
    again = train(_config(), out, quiet=True, resume=True)
    assert (out / "selection" / "metrics.json").stat().st_mtime_ns == stamp  # not re-run
    assert again["test"] == first["test"]
    assert again["selection"]["epochs"] == first["selection"]["epochs"]


def test_a_kept_selection_counts_as_an_earlier_run(tmp_path):
    out = tmp_path / "run"
    train(_config(), out, quiet=True)
    for name in ("model", "metrics.json", "checkpoints"):
        path = out / name
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    with pytest.raises(ConfigError, match="selection"):
        train(_config(), out, quiet=True)
    train(_config(), out, quiet=True, overwrite=True)


def test_holdout_zero_trains_once_and_keeps_the_last_epoch(tmp_path):
    metrics = train(_config("train.holdout=0"), tmp_path / "run", quiet=True)
    assert "selection" not in metrics and not (tmp_path / "run" / "selection").exists()
    assert metrics["best_epoch"] == metrics["epochs_completed"]


def test_a_validation_split_needs_no_selection(tmp_path):
    metrics = train(_config("data.valid_fraction=0.2"), tmp_path / "run", quiet=True)
    assert "selection" not in metrics and "valid" in metrics


def test_the_refit_plan_follows_the_best_epoch_and_the_schedule():
    cfg = _config("train.epochs=50")
    history = [{"epoch": i + 1, "lr": 0.02 / 2 ** (i // 3)} for i in range(9)]
    selection = {"best_epoch": 5, "history": history, "stopped_early": True, "valid": {}}
    refit = refit_from(cfg, selection)
    assert refit.cfg.train.epochs == 5 and refit.cfg.train.early_stopping == 0
    assert refit.cfg.train.holdout == 0 and refit.lr == tuple(r["lr"] for r in history[:5])
    assert refit.summary["ceiling"] == 50 and refit.summary["epochs_run"] == 9
    cosine = refit_from(_config("train.scheduler=cosine"), selection)
    assert cosine.lr is None and cosine.cfg.train.epochs == 5  # per-step: spans the 5 epochs


def test_holdout_must_leave_some_train():
    with pytest.raises(ConfigError, match="holdout"):
        _config("train.holdout=1")
