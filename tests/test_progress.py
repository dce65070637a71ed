"""padless.progress: bars only for a person at a terminal; CI or a pipe gets log lines."""

import io
import sys

import pytest

from padless.progress import interactive, show_bars


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("ci", "tty", "expected"),
    [
        (None, True, True),
        ("", True, True),
        ("false", True, True),
        ("0", True, True),
        ("true", True, False),  # CI wins even over a (pseudo-)terminal
        ("1", True, False),
        (None, False, False),  # piped or redirected to a file
    ],
)
def test_interactive(monkeypatch, ci, tty, expected):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(sys, "stderr", _Terminal() if tty else io.StringIO())
    assert interactive() is expected
    assert show_bars() is expected
    assert show_bars(quiet=True) is False
