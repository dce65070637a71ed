"""Building and loading the C++ kernels once per environment (padless.nn.extension).

The key changes with each of its inputs; builds live inside the environment (``sys.prefix``),
never in torch's shared extensions cache; a complete build loads without a compiler; a torch
lock file left by a killed build does not hang the next one; and a second environment builds
its own copy with ``padless kernels build`` without touching the first's (slow: one real
compile, about 40 s).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from padless.nn import extension, kernels

SOURCES = kernels.sources()


@pytest.fixture(scope="module")
def env_build():
    """This environment's build (loaded; compiled first when `make install` has not)."""
    if os.environ.get("PADLESS_KERNELS_DIR"):
        pytest.skip("PADLESS_KERNELS_DIR is set: this environment's own root is not in use")
    try:
        return extension.build(SOURCES).build
    except RuntimeError as exc:
        pytest.skip(f"the kernels cannot be built here: {exc}")


def digests(sources) -> list[str]:
    return [b.digest for b in extension.builds(sources)]


def test_key_is_stable_and_changes_with_each_input(tmp_path, monkeypatch):
    import torch

    import padless

    src = tmp_path / "csrc"
    src.mkdir()
    for s in SOURCES:
        shutil.copy2(s, src / s.name)
    copies = [src / s.name for s in SOURCES]
    base = digests(copies)
    assert base == digests(copies) == digests(SOURCES)  # contents, not paths
    assert len(set(base)) == 2  # tuned and portable builds differ

    changes = {
        "source": lambda mp: (src / SOURCES[0].name).write_text(
            SOURCES[0].read_text() + "\n// changed\n"
        ),
        "header": lambda mp: (src / "extra.h").write_text("#pragma once\n"),
        "padless": lambda mp: mp.setattr(padless, "__version__", "99.0"),
        "torch": lambda mp: mp.setattr(torch, "__version__", "9.9.9+cpu"),
        "python": lambda mp: mp.setattr(extension.platform, "python_version", lambda: "3.99"),
        "compiler": lambda mp: mp.setenv("CXX", "clang++"),
        "flags": lambda mp: mp.setattr(extension, "_BASE_FLAGS", ["-O2"]),
    }
    seen = {tuple(base)}
    for name, change in changes.items():
        with monkeypatch.context() as mp:
            change(mp)
            got = digests(copies)
        assert got[0] != base[0] and got[1] != base[1], name
        assert tuple(got) not in seen, name
        seen.add(tuple(got))
        for f in src.iterdir():  # undo the file changes
            if f.name not in {s.name for s in SOURCES}:
                f.unlink()
            else:
                shutil.copy2(kernels._CSRC / f.name, f)
        assert digests(copies) == base, name

    # CPU features key the tuned (-march=native) build only.
    monkeypatch.setattr(extension, "_cpu_features", lambda: "sse2 avx512f")
    got = digests(copies)
    assert got[0] != base[0] and got[1] == base[1]


def test_builds_live_inside_the_environment(monkeypatch):
    monkeypatch.delenv("PADLESS_KERNELS_DIR", raising=False)
    prefix = Path(sys.prefix).resolve()
    assert os.access(prefix, os.W_OK)  # this test's venv: the in-environment root is used
    assert extension.root() == prefix / "share" / "padless" / "kernels"
    for b in extension.builds(SOURCES):
        assert b.directory.parent == extension.root()
        assert b.name.startswith("padless_kernels_") and "lstm" not in b.name
        assert b.library.parent == b.directory and b.library.name.startswith(b.name)
    torch_cache = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache/torch_extensions"
    assert not extension.root().is_relative_to(Path(torch_cache).resolve())


def test_other_keys_and_roots_get_their_own_directories(tmp_path, monkeypatch):
    here = extension.builds(SOURCES)
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "lstm.cpp").write_text(SOURCES[0].read_text() + "\n// another checkout\n")
    other = extension.builds([src / "lstm.cpp"])
    assert {b.directory for b in here}.isdisjoint(b.directory for b in other)
    assert {b.directory.parent for b in here} == {b.directory.parent for b in other}
    monkeypatch.setenv("PADLESS_KERNELS_DIR", str(tmp_path / "k"))
    moved = extension.builds(SOURCES)
    assert [b.digest for b in moved] == [b.digest for b in here]
    assert all(b.directory.parent == tmp_path / "k" and not b.complete() for b in moved)
    assert not extension.status(SOURCES)["built"]
    assert "padless kernels build" in extension.status(SOURCES)["reason"]


def run_python(code: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )


LOAD = """
import sys, time
from pathlib import Path
from padless.nn import extension, kernels
kw = {"directory": Path(sys.argv[1])} if len(sys.argv) > 1 else {}
src = kernels.sources()
start = time.perf_counter()
done = extension.build(src, explicit=False, **kw)
seconds = round(time.perf_counter() - start, 2)
same_key = done.build.digest in [b.digest for b in extension.builds(src)]  # after the build too
print(done.build.name, done.compiled, seconds, same_key)
"""


def test_a_complete_build_loads_without_a_compiler(env_build, tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "empty"), "TORCH_EXTENSIONS_DIR": str(tmp_path)}
    env.pop("PADLESS_KERNELS_DIR", None)
    start = time.perf_counter()
    out = run_python(LOAD, env, timeout=120)
    assert out.returncode == 0, out.stderr
    name, compiled, seconds, _ = out.stdout.split()
    assert (name, compiled) == (env_build.name, "False")
    assert float(seconds) < 2.0, seconds  # the load itself, after `import torch`
    assert "building them now" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # torch's extensions cache untouched
    print(f"load in a fresh process: {seconds} s ({time.perf_counter() - start:.1f} s in all)")


def test_a_killed_builds_lock_file_does_not_hang_the_next(env_build, tmp_path):
    # A build interrupted after compiling: the objects are there, build.json is not, and
    # torch's FileBaton `lock` file was never removed (torch alone would wait forever).
    root = tmp_path / "kernels"
    copy = root / env_build.name
    shutil.copytree(env_build.directory, copy)
    (copy / "build.json").unlink()
    (copy / "lock").touch()
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "torch")}
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    name, compiled, _, same_key = out.stdout.split()
    assert (name, compiled, same_key) == (env_build.name, "True", "True")
    assert "interrupted build" in out.stderr and "padless kernels build" in out.stderr
    assert not (copy / "lock").exists()
    assert json.loads((copy / "build.json").read_text())["name"] == env_build.name


@pytest.mark.slow
def test_a_second_environment_builds_its_own_and_leaves_the_first_alone(env_build, tmp_path):
    """`padless kernels build` in a second venv (sharing this one's packages through a .pth,
    but with its own sys.prefix) compiles into that venv; this one's build is untouched and
    still loads at once, and torch's shared extensions cache is never used."""
    import site

    env2 = tmp_path / "env2"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env2)], check=True)
    (site_dir,) = list((env2 / "lib").glob("python3*/site-packages"))
    here = [p for p in site.getsitepackages() if Path(p).is_relative_to(sys.prefix)][0]
    (site_dir / "padless_test_shared.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    torch_cache = tmp_path / "torch-extensions"
    torch_cache.mkdir()
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(torch_cache), "CI": "1"}
    env.pop("PADLESS_KERNELS_DIR", None)
    files = [env_build.library, env_build.directory / "build.json"]
    before = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]

    out = subprocess.run(
        [str(env2 / "bin" / "python"), "-m", "padless", "kernels", "build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    first, where, key = out.stdout.splitlines()[:3]
    assert first.startswith(f"built {env_build.name} (")  # the same key, compiled anew
    built = Path(where.split("where:")[1].strip())
    assert built == env2.resolve() / "share" / "padless" / "kernels" / env_build.name
    assert key.split()[1] == env_build.digest
    assert (built / "build.json").is_file()

    again = subprocess.run(
        [str(env2 / "bin" / "python"), "-m", "padless", "kernels", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "built for this environment" in again.stdout
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files] == before
    out = run_python(LOAD, env, timeout=120)  # this environment still loads its own at once
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == [env_build.name, "False"]
    assert list(torch_cache.iterdir()) == []


def test_a_failed_build_says_why_and_first_uses_do_not_retry_it(tmp_path):
    bad = tmp_path / "csrc" / "bad.cpp"
    bad.parent.mkdir()
    bad.write_text("this is not C++;\n")
    root = tmp_path / "kernels"
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler")
    with pytest.raises(RuntimeError) as first:
        extension.build([bad], directory=root, explicit=False)
    msg = str(first.value)
    assert "native build" in msg and "portable build" in msg and "bad.cpp" in msg
    assert "`padless kernels build -v`" in msg and "fallback" in msg
    assert all((b.directory / "failed.json").is_file() for b in extension.builds([bad], root))
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="failed to build in this environment before"):
        extension.build([bad], directory=root, explicit=False)  # recorded: no new attempt
    assert time.perf_counter() - start < 1.0
    with pytest.raises(RuntimeError, match="portable build"):  # an explicit build retries
        extension.build([bad], directory=root)
