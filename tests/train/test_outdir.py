"""The run directory of ``padless train --out DIR``: one training at a time, no earlier run
overwritten without ``--overwrite``, a read-only or full disk reported before or instead of a
traceback, and nothing left half written (real ``padless train`` runs, in-process or as
processes)."""

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from padless.cli import main
from padless.errors import ConfigError, TrainingError
from padless.train.distributed import World
from padless.train.outdir import LOCK_FILE, check_space, claim, staged_dir

TINY = """
[data]
source = "sum_mod"
modulus = 3
train_size = 60
valid_size = 20
test_size = 20
max_length = 8
[model]
embedding_dim = 8
hidden_size = 8
[train]
epochs = 1
num_threads = 1
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return str(path)


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def _padless(*args, preexec=None, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "padless", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=preexec,
    )


# ---------------------------------------------------------------- an earlier run


def test_a_finished_run_is_refused_unchanged_and_replaced_only_with_overwrite(
    config, tmp_path, capsys
):
    out = tmp_path / "out"
    assert main(["-q", "train", config, "--out", str(out)]) == 0
    before = _files(out)
    assert "model/manifest.json" in before and "checkpoints/epoch-0001.pt" in before
    capsys.readouterr()

    assert main(["-q", "train", config, "--out", str(out), "--set", "train.seed=9"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: expected an empty or new output directory" in err
    assert "earlier run (model, metrics.json, checkpoints)" in err
    assert "--resume" in err and "--overwrite" in err
    assert _files(out) == before  # nothing deleted, nothing overwritten

    assert main(["-q", "train", config, "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "at most one of them" in capsys.readouterr().err
    assert _files(out) == before

    argv = ["-q", "train", config, "--out", str(out), "--set", "train.seed=9", "--overwrite"]
    assert main(argv) == 0
    after = _files(out)
    assert after["model/model.safetensors"] != before["model/model.safetensors"]
    assert b'"seed": 9' in after["metrics.json"]
    # The artifact was built beside model/ and renamed in: no staging directory is left.
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [LOCK_FILE]


def test_a_directory_whose_run_died_before_its_first_checkpoint_is_reused(config, tmp_path):
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    (out / "metrics.jsonl").write_text("")  # what a run killed in its first epoch leaves
    assert main(["-q", "train", config, "--out", str(out)]) == 0


def test_a_running_training_holds_its_directory(config, tmp_path, capsys):
    """A real second process trains into DIR; every kind of run into DIR is refused at once,
    naming its pid; once it is killed, the kernel has dropped its lock."""
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "padless", "-q", "train", config, "--out", str(out)]
        + ["--set", "train.epochs=100000"],
        env={**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        # Any checkpoint: epochs of this tiny run take milliseconds and keep_checkpoints = 2
        # prunes epoch-0001.pt two epochs later, so polling for that one file can miss it.
        while not any((out / "checkpoints").glob("epoch-*.pt")):
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "the first run wrote no checkpoint"
            time.sleep(0.05)
        for flags in ([], ["--resume"], ["--overwrite"]):
            started = time.monotonic()
            assert main(["-q", "train", config, "--out", str(out), *flags]) == 2
            err = capsys.readouterr().err
            assert f"in use by a running training (pid {first.pid})" in err, err
            assert time.monotonic() - started < 30  # refused before loading data or training
        assert first.poll() is None  # the running training goes on untouched
    finally:
        first.kill()
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    # The killed run left checkpoints: a plain run is refused, --resume continues it.
    assert main(["-q", "train", config, "--out", str(out)]) == 2
    assert "earlier run" in capsys.readouterr().err
    assert main(["-q", "train", config, "--out", str(out), "--resume"]) == 0


def test_resume_and_overwrite_exclude_each_other_in_the_library_too(tmp_path):
    with pytest.raises(ConfigError, match="at most one"):
        with claim(tmp_path / "out", World(), resume=True, overwrite=True):
            pass


# ---------------------------------------------------------------- read-only and full disks


def _without_root_override() -> None:
    """In the child, before exec: as root, drop the capabilities that let root write where
    permissions say no (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a 0o555 directory is
    read-only for it as for any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            os._exit(77)  # no CAP_SETPCAP: the test skips


def test_a_read_only_directory_fails_before_training(config, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        proc = _padless("-q", "train", config, "--out", str(out), preexec=_without_root_override)
    finally:
        out.chmod(0o755)
    if proc.returncode == 77:
        pytest.skip("running as root without CAP_SETPCAP: cannot make a directory read-only")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"padless train: error: {out}: expected room and permission to write into it" in (
        proc.stderr
    )
    assert "EACCES" in proc.stderr and f"Fix: make {out} writable" in proc.stderr
    assert list(out.iterdir()) == []  # refused before anything was written


def test_an_output_path_under_a_file_is_a_clean_error(config, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["-q", "train", config, "--out", str(tmp_path / "file" / "out")]) == 2
    assert "permission to create the output directory" in capsys.readouterr().err


def _file_size_limit(limit: int):
    def set_limit() -> None:  # in the child: files past `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


def test_a_full_disk_names_the_checkpoint_and_bytes_and_leaves_no_partial_file(config, tmp_path):
    """A real write failure at the first checkpoint (a 4 KiB file-size limit: the kernel
    answers EFBIG as a full disk answers ENOSPC), not a torch traceback."""
    out = tmp_path / "out"
    proc = _padless("-q", "train", config, "--out", str(out), preexec=_file_size_limit(4096))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "inline_container" not in proc.stderr
    checkpoint = out / "checkpoints" / "epoch-0001.pt"
    assert f"{checkpoint}: expected room and permission to write checkpoint" in proc.stderr
    assert "bytes needed" in proc.stderr and "bytes free on its disk" in proc.stderr
    assert "got EFBIG: File too large" in proc.stderr and "ulimit -f" in proc.stderr
    assert list((out / "checkpoints").iterdir()) == []  # no partial checkpoint, no temp file
    assert not (out / "model").exists()


def test_check_space_refuses_a_write_that_cannot_fit(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    need = free + 10**15
    with pytest.raises(TrainingError) as info:
        check_space(tmp_path / "epoch-0001.pt", need, "write checkpoint epoch-0001.pt", "resume")
    message = str(info.value)
    assert f"expected {need:,} bytes free to write checkpoint epoch-0001.pt" in message
    assert "bytes free on its disk" in message and message.endswith("; then resume")
    check_space(tmp_path / "epoch-0001.pt", 1, "write a byte")  # room: no error


# ---------------------------------------------------------------- whole or not at all


def test_staged_dir_replaces_a_directory_whole_or_not_at_all(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "weights").write_text("old")
    with pytest.raises(OSError, match="stopped halfway"):
        with staged_dir(final) as staged:
            (staged / "weights").write_text("new, half")
            raise OSError("stopped halfway")
    assert _files(final) == {"weights": b"old"}
    with staged_dir(final) as staged:
        (staged / "weights").write_text("new")
        (staged / "manifest.json").write_text("{}")
    assert _files(final) == {"weights": b"new", "manifest.json": b"{}"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_replacement_killed_between_its_renames_is_undone_by_the_next_claim(tmp_path):
    out = tmp_path / "out"
    aside = out / ".model.old-k1ll3d"  # the previous artifact, set aside by a killed run
    aside.mkdir(parents=True)
    (aside / "manifest.json").write_text("{}")
    half = out / ".model.new-k1ll3d"  # its replacement, never renamed in
    half.mkdir()
    (half / "model.safetensors").write_text("half")
    with claim(out, World(), resume=True):
        assert _files(out / "model") == {"manifest.json": b"{}"}
        assert not aside.exists() and not half.exists()
