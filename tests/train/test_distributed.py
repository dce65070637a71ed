"""Distributed training under the real ``torchrun`` (2 CPU processes, gloo on loopback): the
ranks train on disjoint data with equal step counts, reach the single-process accuracy, rank 0
alone writes, evaluation metrics equal a single process's, and ``--resume`` continues exactly.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from padless.train.distributed import World

pytestmark = pytest.mark.slow

CONFIG = """
[data]
source = "sum_mod"
train_size = 4000
valid_size = 500
test_size = 500
min_length = 1
max_length = 8
modulus = 10
seed = 0
[model]
cell = "lstm"
embedding_dim = 16
hidden_size = 64
bidirectional = false
pooling = "last"
[train]
epochs = 12
batch_size = 32
lr = 5e-3
scheduler = "plateau"
sortagrad_epochs = 2
seed = 0
device = "cpu"  # gloo on CPU processes, also on a machine with a GPU
"""


def padless(*args, nproc: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "1"}
    if nproc > 1:  # the real launcher, as users run it
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += [f"--nproc_per_node={nproc}", "-m", "padless", *args]
    else:
        cmd = [sys.executable, "-m", "padless", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "sum-mod-small.toml"
    path.write_text(CONFIG)
    return path


def test_world_of_one_answers_collectives_locally():
    w = World()
    assert w.main and not w.distributed
    assert w.sum([1.0, 2.0]) == [1.0, 2.0] and w.gather("x") == ["x"] and w.broadcast(3) == 3


def test_two_ranks_disjoint_data_equal_steps_and_single_process_accuracy(config, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    padless("train", str(config), "--out", str(one))
    # The same global batch (2 ranks x 16) and step count as one process with 32.
    proc = padless("train", str(config), "--out", str(two), "--set", "train.batch_size=16", nproc=2)
    assert proc.stdout.count('"out"') == 1  # rank 0 alone reports
    m1 = json.loads((one / "metrics.json").read_text())
    m2 = json.loads((two / "metrics.json").read_text())
    assert m1["world_size"] == 1 and m2["world_size"] == 2
    for record in m2["history"]:
        ranks = record["ranks"]
        assert ranks["steps"][0] == ranks["steps"][1] > 0  # equal step counts
        # Disjoint: only the batch padding the epoch to a multiple of 2 ranks repeats.
        assert ranks["repeated"] <= 16
        assert sum(ranks["examples"]) - ranks["repeated"] == 4000
    assert m1["test"]["accuracy"] >= 0.95
    assert m2["test"]["accuracy"] >= m1["test"]["accuracy"] - 0.02
    # Rank 0 wrote the artifact; it scores in one process what the ranks measured together.
    evaluated = padless(
        "evaluate", str(two / "model"), "sum_mod", "--split", "test", "--format", "json"
    )
    single = json.loads(evaluated.stdout)
    assert single["accuracy"] == pytest.approx(m2["test"]["accuracy"], abs=1e-9)
    assert single["loss"] == pytest.approx(m2["test"]["loss"], rel=1e-5)


def test_resume_under_torchrun_continues_exactly(config, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    common = ["--set", "train.epochs=4", "--set", "train.sortagrad_epochs=0"]
    padless("train", str(config), "--out", str(full), *common, nproc=2)
    padless(
        "train",
        str(config),
        "--out",
        str(cut),
        "--set",
        "train.epochs=2",
        "--set",
        "train.sortagrad_epochs=0",
        nproc=2,
    )
    padless("train", str(config), "--out", str(cut), *common, "--resume", nproc=2)
    a = json.loads((full / "metrics.json").read_text())
    b = json.loads((cut / "metrics.json").read_text())
    assert b["epochs_completed"] == 4
    for split in ("train", "valid", "test"):
        np.testing.assert_allclose(a[split]["loss"], b[split]["loss"], rtol=1e-6)
        assert a[split]["accuracy"] == b[split]["accuracy"]


def test_accumulation_syncs_gradients_once_per_optimizer_step(config, tmp_path):
    # 2 ranks x 8 with accumulate 2 against 2 ranks x 16: twice the batches, the same number of
    # optimizer steps, and (no_sync on the first of each pair) the same number of all-reduces.
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--set", "train.epochs=1", "--set", "train.sortagrad_epochs=0"]
    # `padless train --nproc 2`: the shortcut that runs torchrun --standalone itself.
    shortcut = ["--set", "train.batch_size=16", "--nproc", "2"]
    padless("train", str(config), "--out", str(a), *common, *shortcut)
    padless(
        "train",
        str(config),
        "--out",
        str(b),
        *common,
        "--set",
        "train.batch_size=8",
        "--set",
        "train.accumulate=2",
        nproc=2,
    )
    ra = json.loads((a / "metrics.json").read_text())["history"][0]["ranks"]
    rb = json.loads((b / "metrics.json").read_text())["history"][0]["ranks"]
    assert rb["steps"][0] == 2 * ra["steps"][0]
    assert ra["grad_syncs"] > 0 and ra["grad_syncs"] % ra["steps"][0] == 0  # buckets x steps
    assert rb["grad_syncs"] == ra["grad_syncs"]  # without no_sync it would be twice as many


def test_a_refused_directory_fails_every_rank_at_once_and_resume_still_runs(config, tmp_path):
    """Rank 0 alone holds the lock and checks the directory; the other rank shares its
    verdict, so a refusal ends both processes (no rank left waiting in a collective) and a
    permitted --resume under torchrun trains as before."""
    out = tmp_path / "out"
    tiny = ["--set", "train.epochs=1", "--set", "data.train_size=200"]
    padless("train", str(config), "--out", str(out), *tiny)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "padless", "train", str(config), "--out", str(out), *tiny]
    env = {**os.environ, "CI": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert f"{out}: expected an empty or new output directory" in proc.stderr
    assert "rank 0 refused:" in proc.stderr  # rank 1's error: it heard the verdict
    longer = ["--set", "train.epochs=2", *tiny[2:]]
    padless("train", str(config), "--out", str(out), *longer, "--resume", nproc=2)
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
