"""The README's first screen runs as written: its Python and shell blocks, in a fresh directory
with the repo's configs, the installed ``padless`` on PATH (what ``source .venv/bin/activate``
gives after ``make demo``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _first_screen_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block before the README's first ``---``."""
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", head, flags=re.S)


def test_first_screen_has_the_blocks_this_test_runs():
    langs = [lang for lang, _ in _first_screen_blocks()]
    assert langs == ["bash", "python", "bash"], langs
    setup = _first_screen_blocks()[0][1]
    assert "make demo" in setup and "source .venv/bin/activate" in setup


@pytest.mark.slow
def test_first_screen_runs_as_written(tmp_path):
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    env = {**os.environ, "CI": "true"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # The first block (make demo / make test / activate) is what this environment stands for.
    _, (_, python_code), (_, shell) = _first_screen_blocks()
    py = subprocess.run(
        [sys.executable, "-c", python_code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert py.returncode == 0, py.stderr[-3000:]
    accuracy, predictions = py.stdout.strip().splitlines()[-2:]
    assert 0.5 <= float(accuracy) <= 1.0 and "label" in predictions
    sh = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert sh.returncode == 0, sh.stderr[-3000:]
    assert '"label"' in sh.stdout.splitlines()[-1]
    assert (tmp_path / "lengths-report").is_dir() and (tmp_path / "runs/sample/model").is_dir()


def test_the_architecture_tree_lists_every_module():
    """The README's architecture section is the tree: every module of src/padless, no other."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## Architecture", 1)[1].split("```", 2)[1]
    listed: set[str] = set()
    folders: list[tuple[int, str]] = []  # (depth, name) of the folders enclosing the line
    for line in tree.splitlines()[1:]:
        name = re.sub(r"^[│├└─\s]+", "", line).split()[0] if line.strip() else ""
        depth = len(line) - len(line.lstrip("│├└─ "))
        if depth == 0:  # the tree's root, src/padless/
            continue
        while folders and folders[-1][0] >= depth:
            folders.pop()
        if name.endswith("/"):
            folders.append((depth, name))
        elif name.endswith(".py"):
            listed.add("".join(f for _, f in folders) + name)
    src = ROOT / "src" / "padless"
    actual = {
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    }
    actual.add("__init__.py")  # the package's own __init__ (the public API) is listed too
    assert listed == actual, f"README only: {listed - actual}; missing: {actual - listed}"
