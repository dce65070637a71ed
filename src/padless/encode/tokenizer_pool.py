"""Tokenizing a chunk of texts, in this process or in worker processes on every core.

:func:`tokenize_chunk` cleans a chunk's texts once and splits them into words
(:func:`word_codes`): the chunk's distinct words in order of first appearance, each token's
index among them and each text's token count, with no Python object per token. The
streaming build (:mod:`padless.encode.streaming`) reads a chunk of rows in the main process
and hands its texts to a :class:`TokenizerPool` worker, which runs the same function. Results
are taken back in the order the chunks were given, so the provisional word ids (by first
appearance) and therefore the store are the same with any number of workers, or none.

Why processes, and why these: the tokenizer's string work (``str.lower``, ``replace``, the
regular expressions) holds the GIL, so threads would not overlap it. The workers are plain
``python -m padless.encode.tokenizer_pool`` subprocesses, not ``multiprocessing``: fork is
unsafe once torch or Arrow have started threads, and spawn / forkserver import the caller's
``__main__`` again, which re-runs a script that has no ``if __name__ == "__main__"`` guard.
A worker imports no torch (about 0.4 s to start) and exchanges only bytes with the main
process: texts as UTF-8 with their lengths, results as int32 / int64 arrays. Nothing is
unpickled. A worker that dies or fails raises :class:`RuntimeError` naming what it said.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import struct
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import numpy as np

from padless.cores import usable_cores
from padless.encode.text import clean_batch, split_words

__all__ = ["Codes", "TokenizerPool", "default_workers", "tokenize_chunk", "word_codes"]

logger = logging.getLogger(__name__)

_OK, _FAILED = 0, 1
T = TypeVar("T")
Tokenized = tuple[list[str], np.ndarray, np.ndarray]  # distinct words, token indices, counts


def default_workers() -> int:
    """One worker per core this process may use (:func:`padless.cores.usable_cores`)."""
    return usable_cores()


# ----------------------------------------------------------------------------- tokenizing
class Codes:
    """Values to small int codes in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []

    def codes(self, items: list[Any]) -> np.ndarray:
        index, values = self.index, self.values
        try:
            distinct = dict.fromkeys(items)
        except TypeError:  # an unhashable item: raised below as the row loop would
            distinct = {}
        if all(v is None or type(v) is str for v in distinct):  # no str equals another type
            for v in distinct:
                if v not in index:
                    index[v] = len(values)
                    values.append(v)
            return np.fromiter(map(index.__getitem__, items), np.int32, len(items))
        out = np.empty(len(items), dtype=np.int32)
        for i, v in enumerate(items):
            c = index.get(v)
            if c is None:
                c = index[v] = len(values)
                values.append(v)
            out[i] = c
        return out


def word_codes(cleaned: list[str], words: Codes) -> tuple[np.ndarray, np.ndarray]:
    """Provisional word ids (int32, all rows flat) and the token count of each row of
    ``cleaned`` texts: :func:`split_words` then ``words.codes``, without a Python object per
    token. The punctuation is spaced apart over the whole chunk at once (rows joined by
    ``"\\x00"``); the words are then the runs of bytes of its UTF-8 that are neither a space
    nor ``"\\x00"`` (cleaned text holds no other whitespace, and no byte of a multi-byte
    character is either), found with numpy, and Arrow hashes them in C++; only the chunk's
    distinct words pass through Python."""
    import pyarrow as pa

    from padless.encode.words import _isolate

    joined = "\x00".join(cleaned)
    try:
        if joined.count("\x00") != len(cleaned) - 1:  # a text holds the separator
            raise ValueError
        raw = np.frombuffer(_isolate(joined).encode("utf-8"), np.uint8)
    except (ValueError, UnicodeEncodeError):  # or a lone surrogate: the slow way
        tokens, counts = split_words(cleaned)
        return words.codes(tokens), counts
    mark = raw == 0
    inside = ~(mark | (raw == 32))
    edges = np.diff(inside.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
    data = raw[inside]
    tokens = pa.Array.from_buffers(
        pa.large_string(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    encoded = tokens.dictionary_encode()
    local = words.codes(encoded.dictionary.to_pylist())
    ids = local[encoded.indices.to_numpy()] if len(local) else np.zeros(0, np.int32)
    rows = np.searchsorted(np.flatnonzero(mark), starts)  # marks before a word: its row
    return ids, np.bincount(rows, minlength=len(cleaned)).astype(np.int64)


def tokenize_chunk(texts: Sequence[str], lowercase: bool, strip_html: bool) -> Tokenized:
    """A chunk's texts cleaned once and split into words: the chunk's distinct words (in
    order of first appearance), each token's index among them (int32, all texts flat) and the
    token count of each text."""
    cleaned = clean_batch(texts, lowercase=lowercase, strip_html=strip_html)
    codes = Codes()
    local, counts = word_codes(cleaned, codes)
    return codes.values, local, counts


# ----------------------------------------------------------------------------- frames
def _write(stream: IO[bytes], parts: Sequence[bytes]) -> None:
    """One frame: the number of parts, their sizes, then the parts."""
    stream.write(struct.pack(f"<q{len(parts)}q", len(parts), *(len(p) for p in parts)))
    for part in parts:
        stream.write(part)
    stream.flush()


def _read(stream: IO[bytes]) -> list[bytes] | None:
    """The next frame's parts, or None at the end of the stream."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<q", head)
    sizes = struct.unpack(f"<{n}q", stream.read(8 * n))
    parts = [stream.read(size) for size in sizes]
    if any(len(p) != size for p, size in zip(parts, sizes, strict=True)):
        return None
    return parts


def _pack_strings(items: Sequence[str]) -> list[bytes]:
    encoded = [s.encode("utf-8", "surrogatepass") for s in items]
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return [lengths.tobytes(), b"".join(encoded)]


def _unpack_strings(lengths: bytes, data: bytes) -> list[str]:
    ends = np.cumsum(np.frombuffer(lengths, np.int64)).tolist()
    starts = [0, *ends][:-1]
    return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends, strict=True)]


# ----------------------------------------------------------------------------- pool
class TokenizerPool:
    """``workers`` tokenizer processes (module docstring). :meth:`imap` feeds them chunks
    round-robin, at most one chunk per worker out at a time, and yields the results in the
    chunks' order. Use as a context manager: the workers are stopped on exit."""

    def __init__(self, workers: int, *, lowercase: bool, strip_html: bool):
        import padless

        self.flags = struct.pack("<??", lowercase, strip_html)
        env = dict(os.environ)  # the workers import this very padless, however it was found
        root = str(Path(padless.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "padless.encode.tokenizer_pool"]
        self._procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(workers):
                pipe = subprocess.PIPE
                self._procs.append(subprocess.Popen(cmd, stdin=pipe, stdout=pipe, env=env))
        except OSError:  # stop the ones started, then let the caller decide
            self.close()
            raise
        logger.debug("tokenizer pool: %d worker processes", workers)

    def __enter__(self) -> TokenizerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def imap(self, items: Iterable[tuple[T, Sequence[str]]]) -> Iterator[tuple[T, Tokenized]]:
        """``(key, (distinct words, token indices, token counts))`` for each ``(key, texts)``
        of ``items``, in order; ``items`` is read while the workers tokenize."""
        out: deque[tuple[T, int]] = deque()
        n = len(self._procs)
        if n == 0:
            raise RuntimeError("the tokenizer pool is closed (a worker failed, or it was closed)")
        for i, (key, texts) in enumerate(items):
            if len(out) == n:  # the oldest chunk is the one worker i % n holds
                first, w = out.popleft()
                yield first, self._receive(w)
            self._send(i % n, texts)
            out.append((key, i % n))
        while out:
            first, w = out.popleft()
            yield first, self._receive(w)

    def _send(self, w: int, texts: Sequence[str]) -> None:
        try:
            _write(self._procs[w].stdin, [self.flags, *_pack_strings(texts)])  # type: ignore[arg-type]
        except BrokenPipeError:
            self._failed(w, None)

    def _receive(self, w: int) -> Tokenized:
        parts = _read(self._procs[w].stdout)  # type: ignore[arg-type]
        if parts is None or parts[0] != bytes([_OK]):
            self._failed(w, parts)
        _, lengths, data, local, counts = parts
        return (
            _unpack_strings(lengths, data),
            np.frombuffer(local, np.int32),
            np.frombuffer(counts, np.int64),
        )

    def _failed(self, w: int, parts: list[bytes] | None) -> NoReturn:
        said = parts[1].decode("utf-8", "replace") if parts else "it exited (see its stderr)"
        self.close()
        raise RuntimeError(f"tokenizer worker {w} failed: {said}")

    def close(self) -> None:
        """Stop the workers (end of input makes each one exit)."""
        for proc in self._procs:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # type: ignore[union-attr]
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
        self._procs = []


# ----------------------------------------------------------------------------- worker
def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """A worker's loop: a frame of texts in, a frame of results (or the error) out."""
    gc.disable()  # no reference cycles here; see streaming._collector_paused
    while (parts := _read(stdin)) is not None:
        try:
            lowercase, strip_html = struct.unpack("<??", parts[0])
            texts = _unpack_strings(parts[1], parts[2])
            words, local, counts = tokenize_chunk(texts, lowercase, strip_html)
            out = [
                bytes([_OK]),
                *_pack_strings(words),
                np.ascontiguousarray(local, np.int32).tobytes(),
                np.ascontiguousarray(counts, np.int64).tobytes(),
            ]
        except Exception:  # reported to the main process, which raises it
            out = [bytes([_FAILED]), traceback.format_exc().encode("utf-8")]
        _write(stdout, out)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the main process stops the build and closes
    # the pipes, which ends this loop; a traceback from here too would only be noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
