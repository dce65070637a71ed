"""Whether a person is watching: the one place that decides progress bars vs. log lines.

A progress bar redraws itself with carriage returns; in a CI log or a file that is thousands of
lines of noise, so there padless shows no bars and relies on its INFO log lines instead (one per
training epoch, with the loss, metrics, tokens/s and ETA). Every ``tqdm`` bar in padless asks
:func:`show_bars`; nothing else reads ``CI`` or checks for a terminal.
"""

from __future__ import annotations

import os
import sys

_FALSE = ("", "0", "false", "no", "off")


def interactive() -> bool:
    """True when progress bars help: stderr (where bars and logs go) is a terminal and the
    ``CI`` environment variable is unset or false (``""``, ``0``, ``false``, ``no``, ``off``).

    CI services set ``CI=true`` and some give the job a pseudo-terminal, so ``CI`` wins over
    the terminal check.
    """
    if os.environ.get("CI", "").strip().lower() not in _FALSE:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def show_bars(quiet: bool = False) -> bool:
    """Whether to draw progress bars: never when ``quiet`` (``-q``), else when
    :func:`interactive`. Pass ``disable=not show_bars(quiet)`` to ``tqdm``."""
    return not quiet and interactive()
