"""Helpers the serve tests share: the real server started as a process on a loopback port,
and small clients of its API (the ``models`` fixture is in ``conftest.py``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

BASE = """
[data]
source = "imdb-sample"
limit = 300
[text]
max_size = 1500
max_length = 64
[model]
embedding_dim = 8
hidden_size = 8
pooling = "attention"
bidirectional = {bi}
[train]
epochs = 1
batch_size = 32
combine = "off"  # a combined model cannot stream (its n-gram path reads the whole text)
"""
WORDS = "the film was a great moving story but the plot felt dull and far too long".split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(
    model: Path, *flags: str, env: dict | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``padless serve model *flags`` on a free loopback port, once /readyz answers 200:
    yields (base url, process); stops it with SIGTERM. Its output goes to a file that
    :func:`log_of` reads, while it runs and after."""
    port = free_port()
    cmd = [sys.executable, "-m", "padless", "serve", str(model), "--port", str(port), *flags]
    fd, log = tempfile.mkstemp(prefix="padless-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, "CI": "1", **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    proc.log_path = Path(log)  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_of(proc)
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.log_text = log_of(proc)  # type: ignore[attr-defined]
        proc.log_path.unlink(missing_ok=True)  # type: ignore[attr-defined]


def texts(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(1, 30))) for _ in range(n)]


def same(got: list[dict], want: list[dict]) -> None:
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(
            list(g["scores"].values()), list(w["scores"].values()), atol=1e-5
        )


def metric(url: str, name: str, default: float | None = None) -> float:
    """The value of the sample ``name`` (with its labels) in /metrics; ``default`` if absent
    (else an AssertionError)."""
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    if default is not None:
        return default
    raise AssertionError(f"{name} not in /metrics")


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` (VmRSS in /proc/PID/status), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    """File descriptors process ``pid`` holds (its sockets among them)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def log_of(proc: subprocess.Popen, start: int = 0) -> str:
    """The output of a server from :func:`server` so far, from character ``start``."""
    text = getattr(proc, "log_text", None)
    if text is None:
        text = proc.log_path.read_bytes().decode(errors="replace")  # type: ignore[attr-defined]
    return text[start:]
