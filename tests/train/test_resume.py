"""Starting a run: fresh, or resumed from a checkpoint with the same config, ending with the
metrics of an uninterrupted run; what an epoch checkpoint holds."""

import json

import pytest
import torch

from padless.errors import ConfigError
from padless.train.distributed import World
from padless.train.loop import train
from padless.train.resume import check_resume, epoch_state, start
from padless.train.run import build_run
from tests.train.test_loop import small


def test_only_epochs_threads_and_tensorboard_may_change():
    saved = small("sum_mod", epochs=2).to_dict()
    check_resume(saved, small("sum_mod", "train.num_threads=1", "train.tensorboard=true"))
    with pytest.raises(ConfigError, match=r"model.cell: 'lstm' -> 'gru'.*train.lr: 0.01 -> 0.02"):
        check_resume(saved, small("sum_mod", "train.lr=0.02", "model.cell=gru", epochs=2))


def test_epoch_checkpoints_keep_their_keys(tmp_path):
    cfg = small("sum_mod", "data.train_size=60", "data.valid_size=20", "data.test_size=20")
    run = build_run(cfg, tmp_path, True, World())
    assert start(run, resume=False) == 0
    state = epoch_state(run, 1, [{"rng": "rank 0"}])
    assert list(state) == [
        "epoch",
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "book",
        "rng",
        "rng_ranks",
        "config",
    ]
    assert state["rng"] == {"rng": "rank 0"} and state["rng_ranks"] is None
    assert state["scaler"] is None and state["config"] == cfg.to_dict()
    assert torch.equal(state["model"]["head.bias"], run.model.head.bias)


def test_resume_requires_a_checkpoint_and_the_same_config(tmp_path):
    cfg = small("sum_mod", "data.modulus=3", epochs=2)
    with pytest.raises(ConfigError, match="resume"):
        train(cfg, tmp_path / "out", quiet=True, resume=True)
    train(cfg, tmp_path / "out", quiet=True)
    changed = small("sum_mod", "data.modulus=3", "model.hidden_size=8", epochs=2)
    with pytest.raises(ConfigError, match="model.hidden_size"):
        train(changed, tmp_path / "out", quiet=True, resume=True)
    longer = small("sum_mod", "data.modulus=3", epochs=3)  # extending epochs is allowed
    metrics = train(longer, tmp_path / "out", quiet=True, resume=True)
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]


RESUME_CFG = """
[data]
source = "sum_mod"
train_size = 1500
valid_size = 200
test_size = 200
max_length = 30
modulus = 5
[model]
embedding_dim = 16
hidden_size = 32
bidirectional = true
dropout = 0.2
pooling = "mean"
[train]
epochs = 8
early_stopping = 0
batch_size = 32
lr = 0.005
scheduler = "plateau"
seed = 3
"""


def _padless(*args, env=None):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, "-m", "padless", "-q", *args, "--set", "train.num_threads=1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _final(out):
    m = json.loads((out / "metrics.json").read_text())
    history = [
        {k: v for k, v in r.items() if k not in ("seconds", "tokens_per_s")} for r in m["history"]
    ]
    return {k: m[k] for k in ("train", "valid", "test", "best_epoch")}, history


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_identical_metrics(tmp_path):
    """Kill a run with SIGKILL right after its third checkpoint, resume it, and compare every
    final number (and the per-epoch history) with an uninterrupted run of the same seed."""
    import signal
    import time

    cfg = tmp_path / "c.toml"
    cfg.write_text(RESUME_CFG)
    full = _padless("train", str(cfg), "--out", str(tmp_path / "full"))
    assert full.wait(timeout=600) == 0, full.stderr.read().decode()

    out = tmp_path / "killed"
    proc = _padless("train", str(cfg), "--out", str(out))
    target = out / "checkpoints" / "epoch-0003.pt"
    deadline = time.monotonic() + 600
    while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "metrics.json").exists()
    resumed = _padless("train", str(cfg), "--out", str(out), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    assert _final(out) == _final(tmp_path / "full")
    lines = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == list(range(1, 9))


def test_resume_past_a_corrupt_checkpoint_logs_the_one_it_loaded(tmp_path, caplog):
    """The newest checkpoint is truncated: the run resumes from the one before, and the log
    says so (the corrupt file is named as skipped, with why), not that it resumed from the
    corrupt one."""
    import logging

    from padless.cli import main

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        '[data]\nsource = "sum_mod"\nmodulus = 3\ntrain_size = 60\nvalid_size = 20\n'
        "test_size = 20\nmax_length = 8\n[model]\nembedding_dim = 8\nhidden_size = 8\n"
        "[train]\nepochs = 2\nnum_threads = 1\n"
    )
    out = tmp_path / "out"
    assert main(["-q", "train", str(cfg), "--out", str(out)]) == 0
    good, bad = out / "checkpoints" / "epoch-0001.pt", out / "checkpoints" / "epoch-0002.pt"
    bad.write_bytes(bad.read_bytes()[:200])
    with caplog.at_level(logging.INFO, logger="padless.train"):
        argv = ["-q", "train", str(cfg), "--out", str(out), "--resume", "--set", "train.epochs=3"]
        assert main(argv) == 0
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resuming")]
    assert resumed == [f"resuming after epoch 1 from {good}"]
    skipped = [r for r in caplog.records if r.levelno == logging.WARNING and "skipping" in r.msg]
    assert len(skipped) == 1
    message = skipped[0].getMessage()
    assert message.startswith("skipping checkpoint epoch-0002.pt, falling back to epoch-0001.pt: ")
    assert "unreadable" in message
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3]  # epoch 2 trained again
