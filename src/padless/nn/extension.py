"""Building and loading padless's C++ kernel extension (``csrc/``), once per environment.

The extension is compiled by ``torch.utils.cpp_extension.load`` (needs ninja and a C++
compiler) into a build directory **inside the Python environment**, never torch's shared
extensions cache (``~/.cache/torch_extensions``), which every environment on the machine shares
and so rebuilds whenever another one used it last. Layout::

    <sys.prefix>/share/padless/kernels/          the root (PADLESS_KERNELS_DIR overrides it)
    ├── .build.lock                              flock held while a process builds (any key)
    └── padless_kernels_<key hash>/              one build: the module of the same name
        ├── build.ninja, *.o                     torch's ninja build
        ├── padless_kernels_<key hash>.so
        └── build.json                           written last: the build is complete

When ``sys.prefix`` is not writable (a system Python), the root is
``~/.cache/padless/kernels/<hash of sys.prefix>`` instead: still one per environment.

The key hashes everything the binary depends on: the padless version, torch's version, git
revision and C++ ABI, the Python version and extension suffix, the platform, the compiler
(``CXX``) and its flags, the CPU's feature flags (for the ``-march=native`` build) and the
contents of the sources (and of the headers next to them). Another environment, another
checkout of the sources or another machine sharing the disk therefore gets its own directory
and never reuses nor clobbers this one's build.

Two builds are tried in order: the tuned one (``-march=native -fopenmp``), then a portable
one (no ``-march``, no OpenMP). A complete build is loaded directly (no compiler, ninja or
lock needed: about as fast as importing any extension module). Otherwise the first use builds
it, once, logging a warning that names ``padless kernels build`` (which ``make install`` runs
after ``pip install``, with the environment's own torch). :func:`load` raises ``RuntimeError``
with the reason and the fix when neither builds; callers (:mod:`padless.nn.kernels`) then run
the exact fallback.

Concurrent builders are serialised by an ``flock`` on ``<root>/.build.lock``, which the kernel
releases when its holder dies, so an interrupted build never blocks later ones: a torch
``lock`` file found in a build directory while holding it was left by a killed build and is
removed. A live holder is waited for at most ``PADLESS_KERNELS_LOCK_TIMEOUT_S`` seconds
(default 900), then :func:`load` raises naming its pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["Build", "Result", "build", "builds", "load", "loaded", "root", "roots", "status"]

log = logging.getLogger(__name__)

PREFIX = "padless_kernels_"
FIX = (
    "install a C++ compiler (g++) and ninja (`pip install ninja`), then run `padless kernels build`"
)
_BASE_FLAGS = ["-O3", "-ffp-contract=fast"]
# (variant, extra cflags, ldflags): the tuned build first (the machine's own vector ISA,
# OpenMP threads shared with torch's runtime), then a portable one, single-threaded.
_VARIANTS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("native", ["-march=native", "-fopenmp"], ["-fopenmp"]),
    ("portable", [], []),
)
_HEADERS = (".h", ".hpp", ".hh", ".inc")
_COMPLETE = "build.json"
_FAILED = "failed.json"  # this key's build failed: first uses do not retry (explicit builds do)
_LOCK = ".build.lock"

_modules: dict[str, tuple[ModuleType, Build]] = {}  # loaded in this process, by build name
_process_lock = threading.Lock()


@dataclass(frozen=True)
class Build:
    """One build of the extension: its key inputs, hash, flags and directory."""

    variant: str
    key: dict[str, Any]
    digest: str
    cflags: list[str]
    ldflags: list[str]
    directory: Path
    info: dict[str, Any] = field(default_factory=dict, compare=False)  # build.json once built

    @property
    def name(self) -> str:
        return PREFIX + self.digest

    @property
    def library(self) -> Path:
        return self.directory / (self.name + (".pyd" if sys.platform == "win32" else ".so"))

    def complete(self) -> bool:
        """Built, and the build finished (``build.json`` is written last)."""
        return (self.directory / _COMPLETE).is_file() and self.library.is_file()


# -- where ------------------------------------------------------------------------------------
def _writable(path: Path) -> bool:
    """``path`` exists and is writable, or could be created."""
    p = path
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def roots() -> list[Path]:
    """Where this environment's builds live, the one written to first: ``PADLESS_KERNELS_DIR``
    alone when set; else ``<sys.prefix>/share/padless/kernels``, then (searched, and written
    when the prefix is read-only) a per-environment folder of the user's cache."""
    override = os.environ.get("PADLESS_KERNELS_DIR", "")
    if override:
        return [Path(override).expanduser().resolve()]
    prefix = Path(sys.prefix).resolve()
    in_env = prefix / "share" / "padless" / "kernels"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env_id = hashlib.sha256(str(prefix).encode()).hexdigest()[:12]
    in_user = cache.expanduser() / "padless" / "kernels" / env_id
    return [in_env, in_user] if _writable(in_env) else [in_user, in_env]


def root() -> Path:
    """The directory new builds go to (see :func:`roots`)."""
    return roots()[0]


# -- the key ----------------------------------------------------------------------------------
def _cpu_features() -> str:
    """The CPU's feature flags (what ``-march=native`` compiles for)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    return " ".join(sorted(value.split()))
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _source_digests(sources: Sequence[Path]) -> dict[str, str]:
    """sha256 of every source and of the headers in the sources' folders."""
    files = {Path(s).resolve() for s in sources}
    for folder in {f.parent for f in files}:
        files.update(p.resolve() for p in folder.iterdir() if p.suffix in _HEADERS)
    out = {}
    for f in sorted(files):
        try:
            out[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError as exc:
            raise RuntimeError(f"cannot read the kernel source {f}: {exc}") from None
    return out


def _compiler() -> str:
    return os.environ.get("CXX", "c++")


def _key(sources: Sequence[Path], variant: str, cflags: list[str], ldflags: list[str]) -> dict:
    import torch

    from padless import __version__

    return {
        "padless": __version__,
        "torch": torch.__version__,
        "torch_git": getattr(torch.version, "git_version", ""),
        "cxx11_abi": bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", False)),
        "python": platform.python_version(),
        "python_abi": sysconfig.get_config_var("EXT_SUFFIX") or sys.implementation.cache_tag,
        "platform": f"{sys.platform}-{platform.machine()}",
        "compiler": _compiler(),
        "variant": variant,
        "cflags": list(cflags),
        "ldflags": list(ldflags),
        "cpu": (
            hashlib.sha256(_cpu_features().encode()).hexdigest()[:16]
            if variant == "native"
            else platform.machine()
        ),
        "sources": _source_digests(sources),
    }


def builds(sources: Sequence[Path], directory: Path | None = None) -> list[Build]:
    """The builds tried for ``sources``, in order (tuned, portable), under ``directory``
    (default: the first root holding a complete build of that key, else :func:`root`)."""
    out = []
    for variant, extra, ldflags in _VARIANTS:
        cflags = _BASE_FLAGS + extra
        key = _key(sources, variant, cflags, ldflags)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        if directory is not None:
            where = directory
        else:
            where = next(
                (r for r in roots() if (r / (PREFIX + digest) / _COMPLETE).is_file()), root()
            )
        out.append(Build(variant, key, digest, cflags, list(ldflags), where / (PREFIX + digest)))
    return out


# -- building ---------------------------------------------------------------------------------
def _ensure_ninja() -> None:
    from torch.utils.cpp_extension import verify_ninja_availability

    try:
        verify_ninja_availability()  # RuntimeError("Ninja is required ...") when missing
    except RuntimeError:
        # `pip install ninja` puts it next to the interpreter, which may not be on PATH.
        bindir = os.path.dirname(sys.executable)
        if not os.path.exists(os.path.join(bindir, "ninja")):
            raise RuntimeError(f"ninja not found. Fix: {FIX}") from None
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        verify_ninja_availability()


def _toolchain() -> None:
    """Raise with the fix when ninja or the C++ compiler is missing."""
    _ensure_ninja()
    if shutil.which(_compiler()) is None:
        raise RuntimeError(
            f"no C++ compiler found (looked for {_compiler()!r}; set CXX). Fix: {FIX}"
        )


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory/.build.lock`` (an flock: released by the kernel when its holder dies,
    so it is never stale); wait for a live holder at most PADLESS_KERNELS_LOCK_TIMEOUT_S."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): torch's own lock file only
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _LOCK
    timeout = float(os.environ.get("PADLESS_KERNELS_LOCK_TIMEOUT_S", "900"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _lock_holder(path)
                if not announced:
                    log.warning(
                        "waiting for %s, which is building the padless kernels in %s",
                        holder,
                        directory,
                    )
                    announced = True
                if time.monotonic() - start > timeout:
                    raise RuntimeError(
                        f"timed out after {timeout:.0f} s waiting for the kernels build lock "
                        f"{path}, held by {holder}. Fix: wait for that build to finish or stop "
                        "it, then run `padless kernels build` (PADLESS_KERNELS_LOCK_TIMEOUT_S "
                        "sets the wait)"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {platform.node()} {time.time():.0f}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_holder(path: Path) -> str:
    try:
        pid, host, *_ = path.read_text().split()
        return f"pid {pid} on {host}"
    except (OSError, ValueError):
        return "another process"


def _import(b: Build) -> ModuleType:
    """Import the built library as the module ``b.name`` (once per process)."""
    if b.name in _modules:
        return _modules[b.name][0]
    import torch  # noqa: F401 - the library links torch's: load them first

    spec = importlib.util.spec_from_file_location(b.name, b.library)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {b.library}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = json.loads((b.directory / _COMPLETE).read_text()) if b.complete() else {}
    b = Build(b.variant, b.key, b.digest, b.cflags, b.ldflags, b.directory, info)
    _modules[b.name] = (module, b)
    return module


def _compile(b: Build, sources: Sequence[Path], verbose: bool) -> float:
    """Run torch's ninja build of ``b`` (the caller holds the lock); the seconds it took."""
    from torch.utils.cpp_extension import load as cpp_load

    b.directory.mkdir(parents=True, exist_ok=True)
    (b.directory / _COMPLETE).unlink(missing_ok=True)
    stale = b.directory / "lock"  # torch's FileBaton: under our flock, only a killed build's
    if stale.exists():
        log.warning("removing %s, left by an interrupted build", stale)
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    module = cpp_load(
        name=b.name,
        sources=[str(s) for s in sources],
        extra_cflags=list(b.cflags),  # copies: torch appends its own flags to these lists
        extra_ldflags=list(b.ldflags),
        build_directory=str(b.directory),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    info = {
        "name": b.name,
        "variant": b.variant,
        "key": b.key,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(seconds, 1),
        "sys_prefix": sys.prefix,
    }
    tmp = b.directory / (_COMPLETE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, b.directory / _COMPLETE)
    _modules[b.name] = (
        module,
        Build(b.variant, b.key, b.digest, b.cflags, b.ldflags, b.directory, info),
    )
    return seconds


@dataclass
class Result:
    """What :func:`build` did: the module, its build, whether it compiled now, and times."""

    module: ModuleType
    build: Build
    compiled: bool
    seconds: float
    errors: list[str] = field(default_factory=list)  # builds that failed before this one
    waited: bool = False  # another process was building it: waited for its lock, then loaded


def build(
    sources: Sequence[Path],
    *,
    force: bool = False,
    verbose: bool = False,
    directory: Path | None = None,
    explicit: bool = True,
) -> Result:
    """Load the first complete build of ``sources`` for this environment, else compile it
    (tuned, then portable); ``force`` recompiles. Raises ``RuntimeError`` with the reason and
    the fix when nothing builds. ``explicit=False`` (first use) logs a warning before
    compiling that names ``padless kernels build``."""
    start = time.perf_counter()
    with _process_lock:
        plan = builds(sources, directory)
        if not force:
            for b in plan:
                if b.complete():
                    module = _import(b)
                    return Result(module, _modules[b.name][1], False, time.perf_counter() - start)
        failed = [_failure(b) for b in plan]
        if not explicit and all(failed):
            raise RuntimeError(
                f"the kernels failed to build in this environment before ({'; '.join(failed)})."
                " Fix: run `padless kernels build -v` to retry and see the compiler output"
            )
        _toolchain()
        lock_dir = plan[0].directory.parent
        with _build_lock(lock_dir):
            errors: list[str] = []
            for b in plan:
                if b.complete() and not force:  # another process built it meanwhile
                    return Result(
                        _import(b),
                        _modules[b.name][1],
                        False,
                        time.perf_counter() - start,
                        waited=True,
                    )
                if not explicit and not errors:
                    log.warning(
                        "padless kernels are not built for this environment yet: building them "
                        "now (about 30 s, once per environment) in %s. Run `padless kernels "
                        "build` after installing (`make install` does) to build them ahead of "
                        "use",
                        b.directory,
                    )
                try:
                    _compile(b, sources, verbose)
                except Exception as exc:  # noqa: BLE001 - any failure: try the next build
                    msg = str(exc).strip().splitlines()
                    errors.append(f"{b.variant} build ({b.name}): {' | '.join(msg[-5:])[:800]}")
                    with contextlib.suppress(OSError):
                        (b.directory / _FAILED).write_text(json.dumps({"error": errors[-1]}))
                    continue
                (b.directory / _FAILED).unlink(missing_ok=True)
                return Result(
                    _modules[b.name][0],
                    _modules[b.name][1],
                    True,
                    time.perf_counter() - start,
                    errors,
                )
        raise RuntimeError(
            "; ".join(errors) + ". Fix: `padless kernels build -v` shows the compiler's output; "
            "until the kernels build, padless runs its exact fallback"
        )


def _failure(b: Build) -> str:
    """The recorded error of ``b``'s last failed build ('' when none)."""
    try:
        return str(json.loads((b.directory / _FAILED).read_text())["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def load(sources: Sequence[Path]) -> ModuleType:
    """The extension built from ``sources`` for this environment: loaded when built, else
    compiled once (with a warning that names ``padless kernels build``)."""
    return build(sources, explicit=False).module


def loaded() -> Build | None:
    """The build loaded in this process (None when none is)."""
    return next((b for _, b in reversed(_modules.values())), None)


def status(sources: Sequence[Path]) -> dict[str, Any]:
    """Whether ``sources`` are built for this environment, without building or loading:
    ``built`` (bool), ``build`` (the one :func:`load` would use, or None), ``reason`` (why
    not), ``builds`` (every candidate), ``others`` (other keys' builds in the roots)."""
    plan = builds(sources)
    found = next((b for b in plan if b.complete()), None)
    reason = None
    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        reason = "disabled by PADLESS_NO_EXT (unset it to use the kernels)"
    elif found is None:
        reason = (
            f"no complete build of key {plan[0].digest} (tuned) or {plan[1].digest} (portable) "
            f"under {', '.join(map(str, roots()))}: run `padless kernels build`"
        )
        try:
            _toolchain()
        except RuntimeError as exc:
            reason += f"; and it cannot build here: {exc}"
    wanted = {b.name for b in plan}
    others = sorted(
        str(p) for r in roots() if r.is_dir() for p in r.glob(PREFIX + "*") if p.name not in wanted
    )
    info = {}
    if found is not None:
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((found.directory / _COMPLETE).read_text())
    return {
        "built": found is not None,
        "build": found,
        "info": info,
        "reason": reason,
        "builds": plan,
        "others": others,
    }
