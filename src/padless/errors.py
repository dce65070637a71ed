"""Error types shared by every stage.

Every user-facing error says three things: what was expected, what arrived (file, row, field)
and how to fix it. :func:`format_error` builds that message so the wording is uniform.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


class PadlessError(Exception):
    """Base class for errors caused by user input (data, config, artifacts), not by bugs."""


class DataError(PadlessError, ValueError):
    """Input data is missing, malformed or cannot be used as asked."""


class ConfigError(PadlessError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class ArtifactError(PadlessError, ValueError):
    """A saved model directory is missing files, corrupt, tampered with or incompatible."""


def format_error(where: str, expected: str, got: str, fix: str | None = None) -> str:
    """Return ``"<where>: expected <expected>, got <got>. Fix: <fix>"``.

    ``where`` names the file, row and/or field (e.g. ``"data.csv row 17, column 'text'"``).
    """
    msg = f"{where}: expected {expected}, got {got}."
    if fix:
        msg += f" Fix: {fix}"
    return msg


def data_error(where: str, expected: str, got: str, fix: str | None = None) -> DataError:
    """Build a :class:`DataError` with the standard expected / got / fix message."""
    return DataError(format_error(where, expected, got, fix))


def config_error(where: str, expected: str, got: str, fix: str | None = None) -> ConfigError:
    """Build a :class:`ConfigError` with the standard expected / got / fix message."""
    return ConfigError(format_error(where, expected, got, fix))


def read_saved_json(
    path: str | Path,
    expected: str,
    build: Callable[[Any], Any] | None = None,
    fix: str = "re-train or re-export the model",
) -> Any:
    """Read one JSON file of a saved model and, with ``build``, rebuild an object from it.

    A missing, unreadable, malformed or incomplete file (``build`` raising KeyError /
    TypeError / ValueError) becomes an :class:`ArtifactError` naming the file and ``expected``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return build(data) if build is not None else data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            format_error(str(path), expected, f"an unreadable file ({exc})", fix)
        ) from None


class TrainingError(PadlessError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message names the last good
    checkpoint to resume from."""


class ExportError(PadlessError, RuntimeError):
    """A model that cannot be exported to the requested format, or an export that disagrees
    with the eager model."""


class MissingDependencyError(DataError, ImportError):
    """An optional dependency is not installed. A :class:`DataError`, so the command line
    prints it as one line, and an :class:`ImportError`, so ``except ImportError`` catches it."""


def import_optional(module: str, where: str, extra: str) -> Any:
    """Import the optional dependency ``module`` needed by ``where``, or raise
    :class:`MissingDependencyError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        expected, fix = f"the optional dependency {module}", f"pip install padless[{extra}]"
        raise MissingDependencyError(
            format_error(where, expected, f"ImportError ({exc})", fix)
        ) from exc
