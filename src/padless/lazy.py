"""Lazy exports for package ``__init__`` modules (PEP 562 module ``__getattr__``).

A package lists its public names and the module that defines each; the module is imported on
first access. This keeps ``import padless`` (and every torch-free module, such as
``padless.encode`` or ``padless.models.names``) free of torch, so the edge install, which has
no torch, can import the package and run ONNX models.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose public ``names`` map to the module
    (relative to the package, e.g. ``"encoder"``) that defines them.

    The first access imports that module and caches the value in the package namespace.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
