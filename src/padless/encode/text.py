"""Text pipeline: clean → tokenize → ids (pad = 0, unk = 1) → truncate.

Tokenizers:

* ``word``: a regex word tokenizer (words, numbers with apostrophes kept, punctuation as tokens)
  with a capped :class:`~padless.encode.vocab.Vocab`.
* ``wordpiece`` / ``bpe``: HF ``tokenizers`` models trained on the training texts, with
  ``<pad>`` and ``<unk>`` as special tokens 0 and 1 so the id conventions match.

Truncation to ``max_length``: ``head`` keeps the first tokens, ``tail`` the last, ``head+tail``
the first quarter and the last three quarters (the split Sun et al., 2019 found best for long
reviews: 128 + 382 of 512).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from padless.config import TextConfig
from padless.encode.vocab import PAD, UNK, BigramVocab, Vocab
from padless.errors import ArtifactError, data_error, format_error, read_saved_json

logger = logging.getLogger(__name__)
LIMIT_FIX = "split the input into shorter ones (the limit is a setting of the caller)"

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_SPACE = re.compile(r"\s+")
WORD_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]", re.UNICODE)


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
    def fit(cls, texts: Sequence[str], config: TextConfig) -> TextEncoder:
        cleaned = [cls._clean(config, t) for t in texts]
        if config.tokenizer == "word":
            vocab = Vocab.build(
                (word_tokenize(t) for t in cleaned),
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
            tok = _train_subword(cleaned, config)
            logger.info("%s tokenizer: %d tokens", config.tokenizer, tok.get_vocab_size())
            enc = cls(config, tokenizer=tok)
        if config.ngrams == 2:
            enc.bigrams = BigramVocab.build(
                enc._ids(cleaned),
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

    def tokenize(self, text: str) -> list[str]:
        """Clean and split into token strings (no truncation), e.g. for length statistics."""
        cleaned = self._clean(self.config, text)
        if self.vocab is not None:
            return word_tokenize(cleaned)
        return self.tokenizer.encode(cleaned).tokens

    def _ids(self, cleaned: Sequence[str]) -> list[list[int]]:
        if self.vocab is not None:
            return [self.vocab.encode(word_tokenize(t)) for t in cleaned]
        return [e.ids for e in self.tokenizer.encode_batch(list(cleaned))]

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
    ) -> list:
        """Encode and truncate each text: a list of token ids (T,), or with ``ngrams = 2`` an
        int64 array (T, 2) of token id and bigram id per step (bigrams are taken before
        truncation, so a kept token keeps the bigram it had in the full text). A text with no
        tokens after cleaning raises, naming its position (``rows[i]`` when given) so nothing
        turns silently into padding. ``limit``: a text of more tokens (before truncation)
        raises (a server's per-input limit); ``cut=False`` skips the truncation."""
        cleaned = [self._clean(self.config, t) for t in texts]
        ids = self._ids(cleaned)
        out: list[list[int] | np.ndarray] = []
        for i, seq in enumerate(ids):
            row = rows[i] if rows is not None else i
            if not seq:
                raise data_error(
                    f"{where} row {row}",
                    "text with at least one token after cleaning",
                    repr(texts[i][:80]),
                    "remove empty or markup-only texts",
                )
            if limit is not None and len(seq) > limit:
                raise data_error(
                    f"{where} row {row}", f"at most {limit} tokens", f"{len(seq)}", LIMIT_FIX
                )
            max_length = self.config.max_length if cut else None
            kept = truncate(seq, max_length, self.config.truncation)
            if self.bigrams is None:
                out.append(kept)
                continue
            pairs = truncate(self.bigrams.encode(seq), max_length, self.config.truncation)
            out.append(np.array([kept, pairs], dtype=np.int64).T.copy())  # (T, 2): word, bigram
        return out

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
