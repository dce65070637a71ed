"""Helpers that write small data files for the tests of padless.data."""

from __future__ import annotations

from pathlib import Path

import pytest

# A toy multivariate, unequal-length .ts header: the first case line is line 10.
HEADER_MULTI = """\
# A toy multivariate, unequal-length file
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b c
@data
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def ts_file(tmp_path: Path, body: str, name: str = "Toy_TRAIN.ts", header=HEADER_MULTI) -> Path:
    return write(tmp_path / name, header + body)


def message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)
