"""Building and loading padless's C++ kernel extension (``csrc/``).

The extension is compiled by ``torch.utils.cpp_extension.load`` (needs ninja and a C++
compiler). A tuned build (``-march=native -fopenmp``) is tried first, then a portable one.
:func:`load` raises ``RuntimeError`` with the reason when neither builds; callers
(:mod:`padless.nn.kernels`) then run the exact fallback.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["load"]


def _ensure_ninja() -> None:
    from torch.utils.cpp_extension import verify_ninja_availability

    try:
        verify_ninja_availability()  # RuntimeError("Ninja is required ...") when missing
    except RuntimeError:
        # `pip install ninja` puts it next to the interpreter, which may not be on PATH.
        bindir = os.path.dirname(sys.executable)
        if not os.path.exists(os.path.join(bindir, "ninja")):
            raise
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        verify_ninja_availability()


def load(sources: Sequence[Path]) -> ModuleType:
    """Build (or load the cached build of) the extension from ``sources``."""
    from torch.utils.cpp_extension import load as cpp_load

    _ensure_ninja()
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler found (looked for {compiler!r}; set CXX)")
    base = ["-O3", "-ffp-contract=fast"]
    # Tuned build first (the machine's own vector ISA, OpenMP threads shared with torch's
    # runtime); then a portable one, single-threaded if OpenMP is missing.
    attempts = [
        ("padless_lstm_native", base + ["-march=native", "-fopenmp"], ["-fopenmp"]),
        ("padless_lstm_portable", base, []),
    ]
    errors = []
    for name, cflags, ldflags in attempts:
        try:
            return cpp_load(
                name=name,
                sources=[str(s) for s in sources],
                extra_cflags=cflags,
                extra_ldflags=ldflags,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - any build failure means "not available"
            msg = str(exc).strip().splitlines()
            errors.append(f"{name}: {' | '.join(msg[-5:])[:800]}")
    raise RuntimeError("; ".join(errors))
