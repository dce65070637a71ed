"""Prediction inputs read from a file or stdin, streamed in chunks: :func:`read_inputs`.

``padless predict`` reads its inputs with it: one text per line, or JSON lines whose ``text``
or ``inputs`` field holds a text or a token-id / numeric sequence. The file is read line by
line, so memory stays flat however large it is, and every error names the file and line.
Torch-free (the ``[edge]`` install predicts with it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from padless.errors import data_error


def read_inputs(
    source: str, chunk_size: int = 4096, progress: Callable[[int], Any] | None = None
) -> Iterator[tuple[int, list, str]]:
    """Stream ``(offset, inputs, where)`` chunks of at most ``chunk_size`` inputs from a file
    or ``-`` (stdin), reading line by line so memory stays flat however large the input.

    Plain lines are one text each (empty lines are refused); ``.jsonl`` files, or input whose
    first non-empty line starts with ``{``, give each line's ``text`` or ``inputs`` field (a
    string, or a numeric / token-id sequence; blank lines are skipped). ``offset`` is the
    0-based input number of the chunk's first input; errors name the file and line.
    ``progress(n)`` is called with the bytes read for each chunk.
    """
    if source == "-":
        stream, where, close = sys.stdin.buffer, "<stdin>", False
    else:
        if not Path(source).is_file():
            raise data_error(
                source,
                "an existing input file",
                "no such file",
                "check the path, or pass --input - to read stdin",
            )
        stream, where, close = open(source, "rb"), source, True  # noqa: SIM115
    try:
        yield from _chunks(stream, where, source.endswith(".jsonl"), chunk_size, progress)
    finally:
        if close:
            stream.close()


def _chunks(
    stream: BinaryIO, where: str, jsonl: bool | None, size: int, progress
) -> Iterator[tuple[int, list, str]]:
    chunk: list = []
    offset = nbytes = 0
    jsonl = jsonl or None  # None: decided by the first non-empty line
    for n, raw in enumerate(stream, start=1):
        nbytes += len(raw)
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise data_error(
                f"{where} line {n}", "UTF-8 text", "invalid UTF-8 bytes", "re-encode as UTF-8"
            ) from None
        if jsonl is None and line.strip():
            jsonl = line.lstrip().startswith("{")
        if not line.strip():
            if jsonl:
                continue
            raise data_error(
                f"{where} line {n}",
                "one non-empty text per line",
                "an empty line",
                "remove empty lines",
            )
        chunk.append(_json_input(line, where, n) if jsonl else line)
        if len(chunk) == size:
            yield offset, chunk, where
            offset, chunk = offset + len(chunk), []
            if progress is not None:
                progress(nbytes)
                nbytes = 0
    if chunk:
        yield offset, chunk, where
    if progress is not None and nbytes:
        progress(nbytes)


def _json_input(line: str, where: str, n: int) -> Any:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise data_error(
            f"{where} line {n}",
            'a JSON object like {"text": "..."}',
            repr(line[:60]),
            "fix that line",
        ) from None
    value = obj.get("text", obj.get("inputs")) if isinstance(obj, dict) else None
    if not isinstance(value, (str, list)):
        raise data_error(
            f"{where} line {n}",
            'an object with a "text" string or an "inputs" sequence',
            repr(line[:60]),
            'write {"text": "..."} or {"inputs": [[0.1, 2.0], ...]}',
        )
    return value
