"""Text pipeline: clean → tokenize → ids (pad = 0, unk = 1) → truncate.

Tokenizers:

* ``word``: a regex word tokenizer (words, numbers with apostrophes kept, punctuation as tokens)
  with a capped :class:`~padless.encode.vocab.Vocab`. :mod:`padless.encode.words` holds the
  per-text reference (:func:`clean_text`, :func:`word_tokenize`) and the batch path that
  :class:`TextEncoder` uses (:func:`clean_batch`, :func:`split_words`), equal to it for every
  string.
* ``wordpiece`` / ``bpe``: HF ``tokenizers`` models trained on the training texts, with
  ``<pad>`` and ``<unk>`` as special tokens 0 and 1 so the id conventions match.

Truncation to ``max_length``: ``head`` keeps the first tokens, ``tail`` the last, ``head+tail``
the first quarter and the last three quarters (the split Sun et al., 2019 found best for long
reviews: 128 + 382 of 512). :func:`truncate` cuts one id list, :func:`truncate_flat` every row
of a flat id array at once.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from padless.config import TextConfig
from padless.encode.vocab import PAD, UNK, BigramVocab, Vocab
from padless.encode.words import (
    WORD_PATTERN,
    clean_batch,
    clean_text,
    split_words,
    word_ids,
    word_tokenize,
)
from padless.errors import ArtifactError, data_error, format_error, read_saved_json

__all__ = [
    "LIMIT_FIX",
    "WORD_PATTERN",
    "TextEncoder",
    "clean_batch",
    "clean_text",
    "split_words",
    "truncate",
    "truncate_flat",
    "word_tokenize",
]

logger = logging.getLogger(__name__)
LIMIT_FIX = "split the input into shorter ones (the limit is a setting of the caller)"
_POLICIES = ("head", "tail", "head+tail")


def truncate(ids: list[int], max_length: int | None, policy: str = "head") -> list[int]:
    """Cut ``ids`` to ``max_length`` keeping the head, the tail, or a quarter head + the tail
    (``None``: no cut)."""
    if max_length is None or len(ids) <= max_length:
        return ids
    if policy == "head":
        return ids[:max_length]
    if policy == "tail":
        return ids[len(ids) - max_length :]
    if policy == "head+tail":
        head = max_length // 4
        return ids[:head] + ids[len(ids) - (max_length - head) :]
    raise ValueError(f"truncation must be head, tail or head+tail; got {policy!r}")


def truncate_flat(
    ids: np.ndarray, lengths: np.ndarray, max_length: int | None, policy: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`truncate` applied to every row of a flat array: ``ids`` holds the rows one after
    another (along axis 0, so (N, K) steps work too), ``lengths`` their sizes. Returns the kept
    ids and the new int64 lengths (the inputs themselves when nothing is cut). Unlike
    :func:`truncate`, a bad ``policy`` raises even when no row is too long."""
    if policy not in _POLICIES:
        raise ValueError(f"truncation must be head, tail or head+tail; got {policy!r}")
    lengths = np.asarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != len(ids):
        raise ValueError(f"lengths add up to {int(lengths.sum())}, but there are {len(ids)} ids")
    if max_length is None or not bool((lengths > max_length).any()):
        return ids, lengths
    if max_length < 0:
        raise ValueError(f"max_length must be at least 0; got {max_length}")
    size = np.repeat(lengths, lengths)  # the row length, at each step
    step = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    if policy == "head":
        keep = step < max_length
    elif policy == "tail":
        keep = step >= size - max_length
    else:
        head = max_length // 4
        keep = (step < head) | (step >= size - (max_length - head))
    return ids[keep], np.minimum(lengths, max_length)


class TextEncoder:
    """Turns raw strings into truncated id lists according to a :class:`TextConfig`.

    Fit on the training texts with :meth:`fit`; save next to the model with :meth:`save`.
    """

    def __init__(
        self,
        config: TextConfig,
        vocab: Vocab | None = None,
        tokenizer=None,
        bigrams: BigramVocab | None = None,
    ):
        self.config = config
        self.vocab = vocab
        self.tokenizer = tokenizer  # tokenizers.Tokenizer for wordpiece / bpe
        self.bigrams = bigrams  # text.ngrams = 2

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Sequence[str], config: TextConfig, *, cleaned: bool = False) -> TextEncoder:
        """Fit the vocabulary / subword model (and bigram table) on ``texts``; ``cleaned``: the
        texts come from :meth:`clean` (or :func:`clean_batch` with this config) already."""
        clean = list(texts) if cleaned else cls(config).clean(texts)
        if config.tokenizer == "word":
            tokens, lengths = split_words(clean)
            counts = Counter(tokens)
            vocab = Vocab.from_counts(
                list(counts),
                list(counts.values()),
                max_size=config.max_size,
                min_freq=config.min_freq,
            )
            logger.info(
                "word vocabulary: %d tokens (max_size %d, min_freq %d)",
                len(vocab),
                config.max_size,
                config.min_freq,
            )
            enc = cls(config, vocab=vocab)
        else:
            tok = _train_subword(clean, config)
            logger.info("%s tokenizer: %d tokens", config.tokenizer, tok.get_vocab_size())
            enc = cls(config, tokenizer=tok)
        if config.ngrams == 2:
            if enc.vocab is not None:
                ids = enc.vocab.lookup(tokens)
            else:
                ids, lengths = enc._flat_ids(clean, cleaned=True)
            enc.bigrams = BigramVocab.from_flat(
                ids,
                lengths,
                offset=enc.vocab_size,
                max_size=config.ngram_max_size,
                min_freq=config.ngram_min_freq,
            )
            logger.info(
                "bigrams: %d kept (ngram_max_size %d, ngram_min_freq %d)",
                len(enc.bigrams),
                config.ngram_max_size,
                config.ngram_min_freq,
            )
        return enc

    @staticmethod
    def _clean(config: TextConfig, text: str) -> str:
        return clean_text(text, lowercase=config.lowercase, strip_html=config.strip_html)

    # -- use --------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Rows of the embedding table: tokens, then the kept bigrams (if any)."""
        size = len(self.vocab) if self.vocab is not None else self.tokenizer.get_vocab_size()
        return size + (len(self.bigrams) if self.bigrams is not None else 0)

    def clean(self, texts: Sequence[str]) -> list[str]:
        """The texts cleaned as this encoder cleans them (:func:`clean_batch`), to pass to
        :meth:`fit` / :meth:`encode_batch` with ``cleaned=True``."""
        c = self.config
        return clean_batch(texts, lowercase=c.lowercase, strip_html=c.strip_html)

    def tokenize(self, text: str) -> list[str]:
        """Clean and split into token strings (no truncation), e.g. for length statistics."""
        cleaned = self._clean(self.config, text)
        if self.vocab is not None:
            return word_tokenize(cleaned)
        return self.tokenizer.encode(cleaned).tokens

    def _flat_ids(self, texts: Sequence[str], cleaned: bool) -> tuple[np.ndarray, np.ndarray]:
        """All texts' ids, untruncated, flat in order, and the int64 token count per text."""
        c = self.config
        if self.vocab is not None:
            return word_ids(
                texts, self.vocab, lowercase=c.lowercase, strip_html=c.strip_html, cleaned=cleaned
            )
        encoded = self.tokenizer.encode_batch(list(texts) if cleaned else self.clean(texts))
        lengths = np.fromiter((len(e.ids) for e in encoded), np.int64, count=len(encoded))
        ids = chain.from_iterable(e.ids for e in encoded)
        return np.fromiter(ids, np.int64, count=int(lengths.sum())), lengths

    def encode(self, text: str) -> list[int] | np.ndarray:
        return self.encode_batch([text])[0]

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        where: str = "input",
        rows: Sequence[int] | None = None,
        limit: int | None = None,
        cut: bool = True,
        cleaned: bool = False,
    ) -> list:
        """Encode and truncate each text: a list of token ids (T,), or with ``ngrams = 2`` an
        int64 array (T, 2) of token id and bigram id per step (bigrams are taken before
        truncation, so a kept token keeps the bigram it had in the full text). A text with no
        tokens after cleaning raises, naming its position (``rows[i]`` when given) so nothing
        turns silently into padding. ``limit``: a text of more tokens (before truncation)
        raises (a server's per-input limit); ``cut=False`` skips the truncation. ``cleaned``:
        the texts come from :meth:`clean` already."""
        ids, lengths = self._flat_ids(texts, cleaned)
        _check_lengths(texts, lengths, where, rows, limit)
        max_length = self.config.max_length if cut else None
        policy = self.config.truncation
        if self.bigrams is None:
            kept, kept_lengths = truncate_flat(ids, lengths, max_length, policy)
            flat, ends = kept.tolist(), np.cumsum(kept_lengths).tolist()
            return [flat[start:end] for start, end in zip([0, *ends], ends, strict=False)]
        steps = np.stack([ids.astype(np.int64), self.bigrams.lookup_flat(ids, lengths)], axis=1)
        kept, kept_lengths = truncate_flat(steps, lengths, max_length, policy)
        if len(kept_lengths) == 0:
            return []
        return np.split(kept, np.cumsum(kept_lengths)[:-1])  # (T, 2) each: word, bigram

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        (d / "text.json").write_text(
            json.dumps(_config_dict(self.config), indent=2), encoding="utf-8"
        )
        if self.vocab is not None:
            self.vocab.save(d / "vocab.json")
        else:
            self.tokenizer.save(str(d / "tokenizer.json"))
        if self.bigrams is not None:
            self.bigrams.save(d / "bigrams.json")

    @classmethod
    def load(cls, directory: str | Path) -> TextEncoder:
        d = Path(directory)
        config = read_saved_json(
            d / "text.json", "the text pipeline settings", lambda s: TextConfig(**s)
        )
        bigrams = BigramVocab.load(d / "bigrams.json") if config.ngrams == 2 else None
        if config.tokenizer == "word":
            return cls(config, vocab=Vocab.load(d / "vocab.json"), bigrams=bigrams)
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own Exception type
            raise ArtifactError(
                format_error(
                    str(d / "tokenizer.json"),
                    "an HF tokenizer file",
                    f"an unreadable file ({exc})",
                    "re-train or re-export the model",
                )
            ) from None
        return cls(config, tokenizer=tok, bigrams=bigrams)


def _check_lengths(
    texts: Sequence[str],
    lengths: np.ndarray,
    where: str,
    rows: Sequence[int] | None,
    limit: int | None,
) -> None:
    """Raise for the first text with no tokens, or (``limit``) with more than ``limit``."""
    bad = lengths == 0
    if limit is not None:
        bad |= lengths > limit
    if not bool(bad.any()):
        return
    i = int(np.argmax(bad))
    row = rows[i] if rows is not None else i
    if lengths[i] == 0:
        raise data_error(
            f"{where} row {row}",
            "text with at least one token after cleaning",
            repr(texts[i][:80]),
            "remove empty or markup-only texts",
        )
    raise data_error(f"{where} row {row}", f"at most {limit} tokens", f"{lengths[i]}", LIMIT_FIX)


def _config_dict(config: TextConfig) -> dict:
    from dataclasses import asdict

    return asdict(config)


def _train_subword(texts: list[str], config: TextConfig):
    """Train a WordPiece or BPE model (HF ``tokenizers``) with ``<pad>`` = 0, ``<unk>`` = 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    special = [PAD, UNK]
    trainer: trainers.Trainer
    if config.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(
            vocab_size=config.max_size,
            min_frequency=config.min_freq,
            special_tokens=special,
            show_progress=False,
        )
    elif config.tokenizer == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(
            vocab_size=config.max_size,
            min_frequency=config.min_freq,
            special_tokens=special,
            show_progress=False,
        )
    else:
        raise ValueError(f"unknown tokenizer {config.tokenizer!r}")
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert tok.token_to_id(PAD) == 0 and tok.token_to_id(UNK) == 1
    return tok
