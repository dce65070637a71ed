"""The word tokenizer: the per-text reference and the batch path that runs at C speed.

Reference (the definition, one text at a time): :func:`clean_text` then :func:`word_tokenize`.

Batch path (:func:`clean_batch`, :func:`split_words`, :func:`word_ids`): the texts of a chunk
(about 64k characters) are joined into one string and each step runs once over it, in C:

* cleaning joins raw texts with ``"<\\x00"``. No cleaning step can match across it: the
  ``<br>`` and tag patterns stop at ``<`` and cannot start at this one (no letter or ``/``
  follows), entity names stop at ``<``, and for ``lower()`` (whose only context rule is the
  Greek final sigma) neither ``<`` nor ``\\x00`` is cased or case-ignorable, so a text ends
  there as it ends at its last character. Cleaning never creates a ``\\x00`` (no entity
  decodes to one), so the joints are found again after it.
* tokenizing joins cleaned texts with ``"\\x00"``, a one-character token of
  :data:`WORD_PATTERN` (it neither joins a word nor lets an apostrophe join one). Spaces go
  around every one-character token (one ``str.replace`` per distinct punctuation character in
  the chunk; one regex for apostrophes not between two word characters), ``_`` becomes a
  space, and ``str.split()`` then yields exactly ``WORD_PATTERN.findall``: words are runs of
  ``str.isalnum`` characters joined by single apostrophes, and ``\\s`` is ``str.isspace``,
  which is what ``split()`` splits on. The ``\\x00`` tokens mark where each text ends.
* pure-ASCII texts go in chunks of their own (ASCII strings take CPython's fast paths); the
  output is put back in input order.

A chunk in which some text already contains ``\\x00``, and any input under
``_SMALL_CHARS`` characters in all, is read text by text with the reference instead, so the
result equals the reference for every string (the tests check this on arbitrary Unicode text
and on all of IMDB).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from itertools import chain

import numpy as np

from padless.encode.vocab import Vocab

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_SPACE = re.compile(r"\s+")
WORD_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]", re.UNICODE)
# An apostrophe that does not join two word characters: a token of its own.
_LONE_APOSTROPHE = re.compile(r"'(?:(?<![^\W_]')|(?![^\W_]))")
_ASCII_LONE_APOSTROPHE = re.compile(r"'(?:(?<![a-zA-Z0-9]')|(?![a-zA-Z0-9]))", re.ASCII)
# ASCII whitespace (str.isspace, which is also what \s and str.split() use) → " "
_ASCII_SPACES = str.maketrans({c: " " for c in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"})
_SEP = "<\x00"  # joins raw texts for cleaning
_MARK = "\x00"  # joins cleaned texts for tokenizing
_CHUNK_CHARS = 1 << 16
_SMALL_CHARS = 1 << 10  # below this many characters in all, texts are read one by one


def clean_text(text: str, *, lowercase: bool = True, strip_html: bool = True) -> str:
    """Replace HTML line breaks (IMDB's ``<br />``) and tags with spaces, unescape entities,
    optionally lowercase, and collapse whitespace."""
    if strip_html:
        text = _TAG.sub(" ", _BR.sub(" ", text))
        text = html.unescape(text)
    if lowercase:
        text = text.lower()
    return _SPACE.sub(" ", text).strip()


def word_tokenize(text: str) -> list[str]:
    """Split into words (``don't`` stays one token) and single punctuation marks."""
    return WORD_PATTERN.findall(text)


def clean_batch(texts: Sequence[str], *, lowercase: bool, strip_html: bool) -> list[str]:
    """``[clean_text(t, lowercase=..., strip_html=...) for t in texts]``, chunk by chunk."""
    out: list[str] = []
    for rows in _chunks(texts, by_ascii=False):
        chunk = [texts[i] for i in rows.tolist()]
        big = _clean_joined(chunk, lowercase, strip_html)
        if big is None:
            out += [clean_text(t, lowercase=lowercase, strip_html=strip_html) for t in chunk]
        else:
            out += [s.strip() for s in _collapse(big).split(_SEP)]
    return out


def split_words(cleaned: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """All tokens of ``cleaned`` (texts from :func:`clean_batch`, or any strings) flat in order,
    and the int64 token count of each text: ``word_tokenize`` per text, concatenated."""
    parts: list[list[str]] = []
    counts: list[np.ndarray] = []
    chunks = _chunks(cleaned, by_ascii=True)
    for rows in chunks:
        tokens, marks, lengths = _chunk_tokens([cleaned[i] for i in rows.tolist()], None)
        parts.append(_drop(tokens, marks))
        counts.append(lengths)
    gather, lengths = _row_order(chunks, counts)
    flat = list(chain.from_iterable(parts))
    if gather is not None:
        flat = np.array(flat, dtype=object)[gather].tolist()
    return flat, lengths


def word_ids(
    texts: Sequence[str], vocab: Vocab, *, lowercase: bool, strip_html: bool, cleaned: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Flat int32 ids of all texts in order and the int64 token count per text: per text
    ``vocab.encode(word_tokenize(clean_text(t, lowercase=..., strip_html=...)))``, or with
    ``cleaned`` (texts from :func:`clean_batch`) ``vocab.encode(word_tokenize(t))``."""
    clean = None if cleaned else (lowercase, strip_html)
    parts: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    chunks = _chunks(texts, by_ascii=True)
    for rows in chunks:
        tokens, marks, lengths = _chunk_tokens([texts[i] for i in rows.tolist()], clean)
        ids = vocab.lookup(tokens)
        parts.append(np.delete(ids, marks) if marks else ids)
        counts.append(lengths)
    gather, lengths = _row_order(chunks, counts)
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return (flat if gather is None else flat[gather]), lengths


# -- chunk helpers ------------------------------------------------------------------------------
def _chunks(texts: Sequence[str], *, by_ascii: bool) -> list[np.ndarray]:
    """Row indices per chunk: consecutive rows of about ``_CHUNK_CHARS`` characters in all;
    ``by_ascii``: pure-ASCII rows and the others in chunks of their own."""
    n = len(texts)
    if n == 0:
        return []
    sizes = np.fromiter(map(len, texts), np.int64, count=n) + 1
    groups = [np.arange(n)]
    if int(sizes.sum()) <= _SMALL_CHARS:
        return groups  # read text by text (_chunk_tokens): grouping would cost more
    if by_ascii:
        is_ascii = np.fromiter(map(str.isascii, texts), bool, count=n)
        if 0 < is_ascii.sum() < n:
            groups = [np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)]
    out: list[np.ndarray] = []
    for rows in groups:
        chunk_of = (np.cumsum(sizes[rows]) - 1) // _CHUNK_CHARS
        out += np.split(rows, np.flatnonzero(np.diff(chunk_of)) + 1)
    return out


def _clean_joined(chunk: list[str], lowercase: bool, strip_html: bool) -> str | None:
    """The chunk joined with ``_SEP`` and cleaned (whitespace not collapsed); None if a text
    contains ``\\x00`` (then the separators could not be told apart)."""
    big = _SEP.join(chunk)
    if big.count(_MARK) != len(chunk) - 1:
        return None
    if strip_html:
        big = html.unescape(_TAG.sub(" ", _BR.sub(" ", big)))
    if lowercase:
        big = big.lower()
    return big


def _chunk_tokens(
    chunk: list[str], clean: tuple[bool, bool] | None
) -> tuple[list[str], list[int], np.ndarray]:
    """Tokens of the chunk's texts (cleaned first with ``clean = (lowercase, strip_html)``),
    with a ``_MARK`` token between texts; the markers' positions; the token count per text."""
    if sum(map(len, chunk)) < _SMALL_CHARS:
        big = None  # short: the reference is faster than the chunk machinery
    elif clean is None:
        joined = _MARK.join(chunk)
        big = joined if joined.count(_MARK) == len(chunk) - 1 else None
    else:
        cleaned = _clean_joined(chunk, *clean)
        big = None if cleaned is None else cleaned.replace(_SEP, _MARK)
    if big is None:  # short, or a text contains the marker: the reference, text by text
        per_text = [
            word_tokenize(
                t if clean is None else clean_text(t, lowercase=clean[0], strip_html=clean[1])
            )
            for t in chunk
        ]
        lengths = np.fromiter(map(len, per_text), np.int64, count=len(per_text))
        return list(chain.from_iterable(per_text)), [], lengths
    tokens = _isolate(big).split()
    marks: list[int] = []
    at, find = -1, tokens.index
    for _ in range(len(chunk) - 1):
        at = find(_MARK, at + 1)
        marks.append(at)
    bounds = np.array([-1, *marks, len(tokens)], dtype=np.int64)
    return tokens, marks, np.diff(bounds) - 1


def _drop(tokens: list[str], marks: list[int]) -> list[str]:
    """``tokens`` without the positions ``marks`` (ascending)."""
    if not marks:
        return tokens
    out: list[str] = []
    start = 0
    for at in marks:
        out += tokens[start:at]
        start = at + 1
    out += tokens[start:]
    return out


def _row_order(
    chunks: list[np.ndarray], counts: list[np.ndarray]
) -> tuple[np.ndarray | None, np.ndarray]:
    """The per-row counts in row order, and the index that puts the flat output of the chunks
    back in row order (None when the chunks were in row order already)."""
    if len(chunks) < 2:
        return None, counts[0] if chunks else np.zeros(0, np.int64)
    rows = np.concatenate(chunks)
    chunk_lengths = np.concatenate(counts)
    if len(rows) < 2 or bool((np.diff(rows) > 0).all()):
        return None, chunk_lengths
    lengths = np.empty_like(chunk_lengths)
    lengths[rows] = chunk_lengths
    starts = np.empty_like(chunk_lengths)
    starts[rows] = np.cumsum(chunk_lengths) - chunk_lengths
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.repeat(shift, lengths) + np.arange(int(lengths.sum())), lengths


def _collapse(big: str) -> str:
    """Whitespace runs → one space (``_SPACE.sub(" ", big)`` without a match per space)."""
    if not big.isascii():
        return " ".join(big.split())  # drops the ends too: callers strip each text anyway
    big = big.translate(_ASCII_SPACES)
    while "  " in big:
        big = big.replace("  ", " ")
    return big


def _isolate(big: str) -> str:
    """``big`` with every one-character token of :data:`WORD_PATTERN` (a character neither
    word nor space, or an apostrophe not between two word characters) spaced apart and ``_``
    made a space, so that ``split()`` gives ``WORD_PATTERN.findall(big)``. Word characters
    are ``[^\\W_]`` = ``str.isalnum``; spaces ``\\s`` = ``str.isspace`` = what ``split()``
    splits on. One ``replace`` per distinct character present."""
    if big.isascii():
        codes = np.frombuffer(big.encode("ascii"), np.uint8)
        present = np.flatnonzero(np.bincount(codes, minlength=128)).tolist()
        lone_apostrophe = _ASCII_LONE_APOSTROPHE
    else:
        wide = np.frombuffer(big.encode("utf-32-le", "surrogatepass"), np.uint32)
        low = wide < 128
        present = np.flatnonzero(np.bincount(wide[low], minlength=128)).tolist()
        present += np.unique(wide[~low]).tolist()
        lone_apostrophe = _LONE_APOSTROPHE
    for code in present:
        c = chr(code)
        if c == "'":
            big = lone_apostrophe.sub(" ' ", big)
        elif c == "_":
            big = big.replace("_", " ")
        elif not (c.isalnum() or c.isspace()):
            big = big.replace(c, f" {c} ")
    return big
