"""A capped word vocabulary: token string ↔ integer id, with ``<pad>`` = 0 and ``<unk>`` = 1.

Built from the training split only, so validation and test words the model never saw map to
``<unk>`` exactly as they will at inference time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np

from padless.errors import read_saved_json

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocab:
    """Token ↔ id mapping. ``tokens[0]`` is ``<pad>``, ``tokens[1]`` is ``<unk>``."""

    def __init__(self, tokens: list[str]):
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {tokens[:2]!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, token_lists: Iterable[list[str]], *, max_size: int = 20000, min_freq: int = 1
    ) -> Vocab:
        """Count tokens and keep the ``max_size - 2`` most frequent with count ≥ ``min_freq``.

        Ties are broken alphabetically so the same data always gives the same ids.
        """
        _check_max_size(max_size)
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        return cls.from_counts(
            list(counts), list(counts.values()), max_size=max_size, min_freq=min_freq
        )

    @classmethod
    def from_counts(
        cls,
        tokens: Sequence[str],
        counts: Sequence[int] | np.ndarray,
        *,
        max_size: int,
        min_freq: int,
    ) -> Vocab:
        """The vocabulary :meth:`build` makes from texts in which each of ``tokens`` occurs
        ``counts`` times in all (a token listed twice adds up): count descending, then token;
        ``<pad>`` / ``<unk>`` and counts below ``min_freq`` left out; ``max_size`` in all."""
        _check_max_size(max_size)
        if len(tokens) != len(counts):
            raise ValueError(f"{len(tokens)} tokens but {len(counts)} counts")
        total: dict[str, int] = {}
        for token, count in zip(tokens, np.asarray(counts, dtype=np.int64).tolist(), strict=True):
            total[token] = total.get(token, 0) + count
        kept = [t for t, c in total.items() if c >= min_freq and t not in (PAD, UNK)]
        kept.sort(key=lambda t: (-total[t], t))
        return cls([PAD, UNK] + kept[: max_size - 2])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.index.get
        return [get(t, UNK_ID) for t in tokens]

    def lookup(self, tokens: Sequence[str]) -> np.ndarray:
        """:meth:`encode` as an int32 array (``<unk>`` for unknown tokens)."""
        ids = map(self.index.get, tokens, repeat(UNK_ID))
        return np.fromiter(ids, dtype=np.int32, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({"tokens": self.tokens}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return read_saved_json(
            path, 'a JSON vocabulary {"tokens": [...]}', lambda d: cls(list(d["tokens"]))
        )


def _check_max_size(max_size: int) -> None:
    if max_size < 3:
        raise ValueError(f"max_size must be at least 3 (pad, unk and one token); got {max_size}")


class BigramVocab:
    """Adjacent token-id pairs ↔ ids, for fastText-style bigram features.

    The pair ending at position t is ``(ids[t-1], ids[t])``, with ``ids[-1]`` taken as
    ``PAD_ID`` (start of text). Kept pairs get ids ``offset, offset + 1, ...`` so they share one
    embedding table with the words (``offset`` = word vocabulary size); pairs not kept map to
    ``PAD_ID``, whose embedding is zero, so an unseen bigram adds nothing to its step.
    """

    def __init__(self, pairs: list[tuple[int, int]], offset: int):
        self.pairs = [(int(a), int(b)) for a, b in pairs]
        self.offset = int(offset)
        self.index = {p: offset + i for i, p in enumerate(self.pairs)}
        if len(self.index) != len(self.pairs):
            raise ValueError("bigram pairs must be unique")
        self._table: tuple[int, np.ndarray, np.ndarray] | None = None  # for lookup_flat

    @staticmethod
    def pairs_of(ids: list[int]) -> list[tuple[int, int]]:
        return list(zip([PAD_ID, *ids[:-1]], ids, strict=True)) if len(ids) else []

    @classmethod
    def build(
        cls, id_lists: Iterable[list[int]], *, offset: int, max_size: int, min_freq: int
    ) -> BigramVocab:
        """Keep the ``max_size`` most frequent pairs with count ≥ ``min_freq`` (ties by ids, so
        the same data always gives the same table). Pairs touching ``<unk>`` are not kept."""
        counts: Counter[tuple[int, int]] = Counter()
        for ids in id_lists:
            counts.update(cls.pairs_of(ids))
        kept = [p for p, c in counts.items() if c >= min_freq and UNK_ID not in p]
        kept.sort(key=lambda p: (-counts[p], p))
        return cls(kept[:max_size], offset)

    @classmethod
    def from_flat(
        cls, ids: np.ndarray, lengths: np.ndarray, *, offset: int, max_size: int, min_freq: int
    ) -> BigramVocab:
        """:meth:`build` over the rows of a flat id array (``lengths``: the row sizes)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return cls([], offset)
        base = max(int(offset), int(ids.max()) + 1)
        if base >= 2**31 or int(ids.min()) < 0:
            raise ValueError(
                f"bigram ids must be in 0..2**31 - 1; got {int(ids.min())}..{base - 1}"
            )
        keys, counts = np.unique(_previous(ids, lengths) * base + ids, return_counts=True)
        first, second = np.divmod(keys, base)
        keep = (counts >= min_freq) & (first != UNK_ID) & (second != UNK_ID)
        keys, counts, first, second = keys[keep], counts[keep], first[keep], second[keep]
        order = np.lexsort((keys, -counts))[:max_size]  # count descending, then the pair
        return cls(list(zip(first[order].tolist(), second[order].tolist(), strict=True)), offset)

    def __len__(self) -> int:
        return len(self.pairs)

    def encode(self, ids: list[int]) -> list[int]:
        get = self.index.get
        return [get(p, PAD_ID) for p in self.pairs_of(ids)]

    def lookup_flat(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """:meth:`encode` of every row of a flat id array (``lengths``: the row sizes), flat
        int64 (``PAD_ID`` for pairs not kept)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not self.pairs or len(ids) == 0:
            return np.full(len(ids), PAD_ID, dtype=np.int64)
        if self._table is None:
            pairs = np.asarray(self.pairs, dtype=np.int64)
            base = max(self.offset, int(pairs.max()) + 1, 1)
            if base >= 2**31 or int(pairs.min()) < 0:
                raise ValueError(f"bigram pairs must hold ids in 0..2**31 - 1; got {base - 1}")
            keys = pairs[:, 0] * base + pairs[:, 1]
            order = np.argsort(keys)
            self._table = (base, keys[order], order + self.offset)
        base, keys, values = self._table
        prev = _previous(ids, lengths)
        inside = (ids >= 0) & (ids < base) & (prev >= 0) & (prev < base)
        query = np.where(inside, prev * base + ids, -1)
        at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return np.where(inside & (keys[at] == query), values[at], PAD_ID)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({"offset": self.offset, "pairs": self.pairs}), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> BigramVocab:
        return read_saved_json(
            path,
            'a JSON bigram table {"offset": N, "pairs": [[a, b], ...]}',
            lambda d: cls([tuple(p) for p in d["pairs"]], int(d["offset"])),
        )


def _previous(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The id before each step of a flat array of rows (``lengths``), ``PAD_ID`` at row starts:
    the first ids of :meth:`BigramVocab.pairs_of`."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != len(ids):
        raise ValueError(f"lengths add up to {int(lengths.sum())}, but there are {len(ids)} ids")
    prev = np.empty(len(ids), dtype=np.int64)
    prev[1:] = ids[:-1]
    starts = (np.cumsum(lengths) - lengths)[lengths > 0]
    prev[starts] = PAD_ID
    return prev
