"""A capped word vocabulary: token string ↔ integer id, with ``<pad>`` = 0 and ``<unk>`` = 1.

Built from the training split only, so validation and test words the model never saw map to
``<unk>`` exactly as they will at inference time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

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
        if max_size < 3:
            raise ValueError(
                f"max_size must be at least 3 (pad, unk and one token); got {max_size}"
            )
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = [t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls([PAD, UNK] + kept[: max_size - 2])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.index.get
        return [get(t, UNK_ID) for t in tokens]

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

    @staticmethod
    def pairs_of(ids: list[int]) -> list[tuple[int, int]]:
        return list(zip([PAD_ID, *ids[:-1]], ids, strict=True))

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

    def __len__(self) -> int:
        return len(self.pairs)

    def encode(self, ids: list[int]) -> list[int]:
        get = self.index.get
        return [get(p, PAD_ID) for p in self.pairs_of(ids)]

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
