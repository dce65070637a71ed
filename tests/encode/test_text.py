"""The text pipeline: the batch word path against the per-text reference, truncation, the
encoder (word / subword, bigrams, errors) and a full-IMDB equality check."""

import contextlib
import csv
import gzip
from itertools import chain
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from padless.config import TextConfig
from padless.encode import words
from padless.encode.text import (
    TextEncoder,
    clean_batch,
    clean_text,
    split_words,
    truncate,
    truncate_flat,
    word_tokenize,
)
from padless.encode.vocab import Vocab
from padless.encode.words import word_ids
from padless.errors import DataError

SHARED_IMDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb" / "imdb.csv.gz"

TEXTS = [
    "A great film.<br /><br />Great acting!",
    "A terrible film, terrible plot.",
    "Great fun",
    "I don't care",
]


def test_clean_and_tokenize():
    assert clean_text("Great<br />Film &amp; <i>Cast</i>") == "great film & cast"
    assert clean_text("Keep Case<br/>", lowercase=False) == "Keep Case"
    assert word_tokenize("i don't, 2 cats!") == ["i", "don't", ",", "2", "cats", "!"]


@pytest.mark.parametrize(
    "policy, expected",
    [("head", [0, 1, 2, 3]), ("tail", [6, 7, 8, 9]), ("head+tail", [0, 7, 8, 9])],
)
def test_truncate(policy, expected):
    assert truncate(list(range(10)), 4, policy) == expected
    assert truncate([1, 2], 4, policy) == [1, 2]


@pytest.mark.parametrize("kind", ["word", "wordpiece", "bpe"])
def test_encoder_round_trip(tmp_path, kind):
    cfg = TextConfig(tokenizer=kind, max_size=200, min_freq=1, max_length=5)
    enc = TextEncoder.fit(TEXTS * 3, cfg)
    ids = enc.encode_batch(["great film, terrible plot and more words here"])
    assert 1 <= len(ids[0]) <= 5 and all(i >= 1 for i in ids[0])
    enc.save(tmp_path)
    again = TextEncoder.load(tmp_path)
    assert again.encode_batch(["great film, terrible plot"]) == enc.encode_batch(
        ["great film, terrible plot"]
    )
    assert again.vocab_size == enc.vocab_size


def test_unknown_words_map_to_unk():
    enc = TextEncoder.fit(TEXTS, TextConfig(min_freq=1))
    assert enc.encode("great zzzz") == [enc.vocab.index["great"], 1]


def test_empty_after_cleaning_raises_with_row():
    enc = TextEncoder.fit(TEXTS, TextConfig(min_freq=1))
    with pytest.raises(DataError, match="row 7"):
        enc.encode_batch(["ok", "<br /><br />"], where="x.csv", rows=[3, 7])


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_bigram_encoder_steps_and_round_trip(tmp_path, kind):
    cfg = TextConfig(tokenizer=kind, max_size=200, min_freq=1, ngrams=2, ngram_min_freq=2)
    enc = TextEncoder.fit(TEXTS * 3, cfg)
    words = TextEncoder.fit(TEXTS * 3, TextConfig(tokenizer=kind, max_size=200, min_freq=1))
    assert enc.vocab_size == words.vocab_size + len(enc.bigrams) and len(enc.bigrams) > 0
    text = "great film, terrible plot zzz qqq"
    arr = enc.encode(text)
    assert arr.dtype.kind == "i" and arr.shape == (len(words.encode(text)), 2)
    assert arr[:, 0].tolist() == words.encode(text)  # channel 0: the same token ids
    pairs = [(int(a), int(b)) for a, b in zip([0, *arr[:-1, 0]], arr[:, 0], strict=True)]
    expected = [enc.bigrams.index.get(p, 0) for p in pairs]
    assert arr[:, 1].tolist() == expected and expected[0] >= words.vocab_size
    assert expected[-1] == 0  # an unseen pair adds nothing
    enc.save(tmp_path)
    again = TextEncoder.load(tmp_path)
    assert (again.encode(text) == arr).all() and again.vocab_size == enc.vocab_size


def test_bigrams_are_taken_before_truncation():
    cfg = TextConfig(min_freq=1, ngrams=2, ngram_min_freq=1, max_length=4, truncation="tail")
    enc = TextEncoder.fit(["a b c d e f"], cfg)
    arr = enc.encode("a b c d e f")
    full = TextEncoder.fit(["a b c d e f"], TextConfig(min_freq=1, ngrams=2, ngram_min_freq=1))
    assert (arr == full.encode("a b c d e f")[-4:]).all()


# -- the batch word path equals the per-text reference ----------------------------------------
SNIPPETS = [
    *("<br />", "<BR>", "<br/>", "<br\n/>", "<br" + " " * 3, "<i>", "</i>", "<a href='x'>"),
    *("< b>", "<", ">", "</", "<3", "&amp;", "&#39;", "&#x27;", "&ampx", "&amp", "&lt;"),
    *("&lt;i>", "&gt;", "&#0;", "&#x110000;", "&#xD800;", "&#12;", "&#x1c;", "&nbsp;"),
    *("&Sigma;", "&#931;", "&", "#", ";", "'", "''", "\u2019", "_", "__", "don't", "o'_x"),
    *("a'", "'b", "'9'", "\u0301", "e\u0301", "\x00", "<\x00", "\x00<", "\x01", "\x7f"),
    *("\u03a3", "\u0391\u03a3", "\u03a3\u0391", "\u03c2", "\u0130", "\xdf", "\u212a"),
    *("\xb2", "\u0663", "\u216b", "\U0001d518", "\U0001f600", "\U0001d7d8", "\ud800"),
    *(" ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85"),
    *("\xa0", "\u2028", "\u2029", "\u3000", "\u200b", "  ", "word", "Word", "WORD", "12"),
    *("<a", "<br", "<BR ", "b>", "/>", "a>", "&am", "p;", "&#3", "9;", "&#x2", "7;"),  # ends
]
_piece = st.one_of(
    st.sampled_from(SNIPPETS),
    st.text(max_size=5),
    st.characters(codec="utf-8"),
    st.text(st.characters(max_codepoint=127), max_size=5),
)
_text = st.lists(_piece, max_size=12).map("".join)
# Mostly without "\x00": a chunk holding it falls back to the reference text by text.
_texts = st.tuples(st.lists(_text, max_size=7), st.integers(0, 3)).map(
    lambda p: p[0] if p[1] == 0 else [t.replace("\x00", "") for t in p[0]]
)
_EXACT = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def no_small_batches():
    """Short inputs normally take the per-text reference: here every input takes the batch
    path, so these tests compare it with the reference (``small_batches`` turns that back)."""
    before = words._SMALL_CHARS
    words._SMALL_CHARS = 0
    yield
    words._SMALL_CHARS = before


@contextlib.contextmanager
def chunk_chars(n: int, small: int = 0):
    """Small chunks, so a few texts already span several chunks (and both ASCII groups)."""
    before = words._CHUNK_CHARS, words._SMALL_CHARS
    words._CHUNK_CHARS, words._SMALL_CHARS = n, small
    try:
        yield
    finally:
        words._CHUNK_CHARS, words._SMALL_CHARS = before


@_EXACT
@given(
    texts=_texts,
    lowercase=st.booleans(),
    strip_html=st.booleans(),
    chunk=st.sampled_from([1, 9, 64, 1 << 16]),
)
def test_batch_word_path_equals_the_reference(texts, lowercase, strip_html, chunk):
    flags = {"lowercase": lowercase, "strip_html": strip_html}
    ref_clean = [clean_text(t, **flags) for t in texts]
    ref_tokens = [word_tokenize(t) for t in ref_clean]
    vocab = Vocab.build(ref_tokens[::2], max_size=40, min_freq=1)  # leaves some unknown
    ref_ids = list(chain.from_iterable(vocab.encode(t) for t in ref_tokens))
    with chunk_chars(chunk):
        assert clean_batch(texts, **flags) == ref_clean
        flat, lengths = split_words(ref_clean)
        assert flat == list(chain.from_iterable(ref_tokens))
        assert lengths.dtype == np.int64 and lengths.tolist() == [len(t) for t in ref_tokens]
        raw_flat, raw_lengths = split_words(texts)  # any strings, not only cleaned ones
        raw_tokens = [word_tokenize(t) for t in texts]
        assert raw_flat == list(chain.from_iterable(raw_tokens))
        assert raw_lengths.tolist() == [len(t) for t in raw_tokens]
        for cleaned, inputs in ((False, texts), (True, ref_clean)):
            ids, lengths = word_ids(inputs, vocab, **flags, cleaned=cleaned)
            assert ids.dtype == np.int32 and ids.tolist() == ref_ids
            assert lengths.tolist() == [len(t) for t in ref_tokens]


def test_the_character_classes_the_batch_path_relies_on():
    """Over every code point: regex ``\\s`` is ``str.isspace`` (what ``split()`` splits on and
    ``strip()`` strips), ``[^\\W_]`` is ``str.isalnum``, and on ASCII the classes are the ones
    ``words._ASCII_SPACES`` / the ASCII apostrophe pattern spell out."""
    import re

    everything = "".join(map(chr, range(0x110000)))
    spaces = "".join(re.findall(r"\s", everything))
    assert spaces == "".join(c for c in everything if c.isspace())
    assert "".join(re.findall(r"[^\W_]", everything)) == "".join(
        c for c in everything if c.isalnum()
    )
    solid = everything.translate({ord(c): None for c in spaces})
    assert ("a" + spaces + "b").split() == ["a", "b"] and len(solid.split()) == 1
    assert (spaces + "a" + spaces).strip() == "a"
    ascii_spaces = [c for c in spaces if c.isascii()]
    assert sorted(ascii_spaces) == sorted(" " + "".join(chr(k) for k in words._ASCII_SPACES))
    assert [c for c in map(chr, range(128)) if c.isalnum()] == [
        c for c in map(chr, range(128)) if re.fullmatch("[a-zA-Z0-9]", c)
    ]


_JOINTS = ["<", ">", "/", "a", "A", "br", " ", "&", "amp", "#", "39", "x27", ";", "'", "_"]
_JOINTS += ["\u03a3", "\u0391", "\u0301", "\xe9", "\t", "\x1f", "\xa0"]


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.lists(st.sampled_from(_JOINTS), max_size=4).map("".join), max_size=8),
    lowercase=st.booleans(),
    strip_html=st.booleans(),
)
def test_nothing_crosses_the_joints(texts, lowercase, strip_html):
    """Short texts from a few characters that tags, entities, apostrophes and final sigmas are
    made of: whatever a text ends with, the next one starts afresh."""
    flags = {"lowercase": lowercase, "strip_html": strip_html}
    ref_clean = [clean_text(t, **flags) for t in texts]
    assert clean_batch(texts, **flags) == ref_clean
    ref_tokens = [word_tokenize(t) for t in ref_clean]
    vocab = Vocab.build(ref_tokens, min_freq=1)
    ids, lengths = word_ids(texts, vocab, **flags, cleaned=False)
    assert ids.tolist() == vocab.encode(chain.from_iterable(ref_tokens))
    assert lengths.tolist() == [len(t) for t in ref_tokens]


_ENDS = ["<a", "<A x", "</b", "<br", "<br ", "<BR /", "&amp", "&am", "&", "&#39", "&#x2", "&#"]
_ENDS += ["a'", "'", "a_", "\u0391\u03a3", "\u03a3", "\u0391\u03a3\u0301", "x", " ", ""]
_STARTS = [">", "/>", " >", "a>", "b>", "r>", "br>", ";", "p;", "39;", "7;", "x27;", "'a", "a"]
_STARTS += ["\u0391", "\u0301a", "_a", "&gt;", " ", ""]


@pytest.mark.parametrize(("lowercase", "strip_html"), [(True, True), (False, False)])
def test_every_joint(lowercase, strip_html):
    """Each text end that could start a tag, an entity, a joined apostrophe or a final sigma,
    next to each start that could finish one: the texts still read as if alone."""
    flags = {"lowercase": lowercase, "strip_html": strip_html}
    texts = [t for end in _ENDS for start in _STARTS for t in (end, start)]
    ref_clean = [clean_text(t, **flags) for t in texts]
    assert clean_batch(texts, **flags) == ref_clean
    ref_tokens = [word_tokenize(t) for t in ref_clean]
    vocab = Vocab.build(ref_tokens, min_freq=1)
    ids, lengths = word_ids(texts, vocab, **flags, cleaned=False)
    assert ids.tolist() == vocab.encode(chain.from_iterable(ref_tokens))
    assert lengths.tolist() == [len(t) for t in ref_tokens]


@pytest.mark.parametrize(("chunk", "small"), [(1, 0), (1 << 16, 0), (1 << 16, 1 << 10)])
def test_batch_path_edge_cases(chunk, small):
    texts = [
        "\u0391\u03a3",  # a final sigma at the end of a text stays final next to the joint
        "\u03a3\u0391",
        "\u0391\u03a3'",
        "&Sigma;",
        "a<br",
        "/>b",
        "<i",
        "x>",
        "&amp",
        ";",
        "<",
        "",
        "   ",
        "don't _stop_ '",
    ]
    nul = ["a\x00b", "<\x00", "x"]  # the joint's own character: the reference, text by text
    with chunk_chars(chunk, small):
        for batch in (texts, nul, texts + nul):
            for flags in ({}, {"lowercase": False, "strip_html": False}):
                ref = [clean_text(t, **flags) for t in batch]
                both = {"lowercase": True, "strip_html": True, **flags}
                assert clean_batch(batch, **both) == ref
                flat, lengths = split_words(ref)
                assert flat == [w for t in ref for w in word_tokenize(t)]
                assert lengths.tolist() == [len(word_tokenize(t)) for t in ref]
                vocab = Vocab.build([flat], min_freq=1)
                ids, lengths = word_ids(batch, vocab, **both, cleaned=False)
                assert ids.tolist() == vocab.encode(flat)
    assert clean_batch([], lowercase=True, strip_html=True) == []
    flat, lengths = split_words([])
    assert flat == [] and lengths.shape == (0,) and lengths.dtype == np.int64


# -- truncation -------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 99), max_size=12), max_size=6),
    max_length=st.one_of(st.none(), st.integers(0, 10)),
    policy=st.sampled_from(["head", "tail", "head+tail"]),
)
def test_truncate_flat_equals_truncate_per_row(rows, max_length, policy):
    ids = np.array(list(chain.from_iterable(rows)), dtype=np.int64)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    kept, kept_lengths = truncate_flat(ids, lengths, max_length, policy)
    expected = [truncate(r, max_length, policy) for r in rows]
    assert kept.tolist() == list(chain.from_iterable(expected))
    assert kept_lengths.tolist() == [len(r) for r in expected]
    steps = np.stack([ids, ids * 10], axis=1)  # (N, K) rows are cut the same way
    kept2, _ = truncate_flat(steps, lengths, max_length, policy)
    assert kept2[:, 0].tolist() == kept.tolist() and kept2[:, 1].tolist() == (kept * 10).tolist()


def test_truncate_flat_checks_its_arguments():
    with pytest.raises(ValueError, match="head, tail or head\\+tail"):
        truncate_flat(np.arange(3), np.array([3]), 5, "middle")
    with pytest.raises(ValueError, match="add up to 2"):
        truncate_flat(np.arange(3), np.array([2]), 5, "head")


# -- the encoder on the batch path --------------------------------------------------------------
def _reference_encode(enc, texts, cut=True):
    """encode_batch as it was: per text clean → tokenize → ids → (bigrams) → truncate."""
    c = enc.config
    out = []
    for t in texts:
        seq = enc.vocab.encode(word_tokenize(enc._clean(c, t)))
        max_length = c.max_length if cut else None
        kept = truncate(seq, max_length, c.truncation)
        if enc.bigrams is None:
            out.append(kept)
        else:
            pairs = truncate(enc.bigrams.encode(seq), max_length, c.truncation)
            out.append(np.array([kept, pairs], dtype=np.int64).T.copy())
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(_text.filter(lambda t: word_tokenize(clean_text(t))), min_size=1, max_size=6),
    max_length=st.integers(1, 6),
    truncation=st.sampled_from(["head", "tail", "head+tail"]),
    ngrams=st.sampled_from([1, 2]),
)
def test_encoder_equals_the_per_text_pipeline(texts, max_length, truncation, ngrams):
    cfg = TextConfig(
        max_size=30,
        min_freq=1,
        max_length=max_length,
        truncation=truncation,
        ngrams=ngrams,
        ngram_min_freq=1,
    )
    enc = TextEncoder.fit(texts * 2, cfg)
    ref_tokens = [word_tokenize(clean_text(t)) for t in texts * 2]
    assert enc.vocab.tokens == Vocab.build(ref_tokens, max_size=30, min_freq=1).tokens
    again = TextEncoder.fit(enc.clean(texts * 2), cfg, cleaned=True)
    assert again.vocab.tokens == enc.vocab.tokens
    if ngrams == 2:
        from padless.encode.vocab import BigramVocab

        ids = [enc.vocab.encode(t) for t in ref_tokens]
        built = BigramVocab.build(ids, offset=len(enc.vocab), max_size=200000, min_freq=1)
        assert enc.bigrams.pairs == built.pairs == again.bigrams.pairs
    for cut in (True, False):
        expected = _reference_encode(enc, texts, cut)
        for got in (
            enc.encode_batch(texts, cut=cut),
            enc.encode_batch(enc.clean(texts), cut=cut, cleaned=True),
        ):
            if ngrams == 1:
                assert got == expected and all(type(x) is list for x in got)
            else:
                assert len(got) == len(expected)
                for a, b in zip(got, expected, strict=True):
                    assert a.dtype == np.int64 and a.shape == b.shape and (a == b).all()


def test_limit_and_cut_on_the_batch_path():
    enc = TextEncoder.fit(TEXTS, TextConfig(min_freq=1, max_length=3))
    texts = ["great film", "a b c d e f", "great"]
    with pytest.raises(DataError, match=r"x\.csv row 11: expected at most 4 tokens, got 6"):
        enc.encode_batch(texts, where="x.csv", rows=[10, 11, 12], limit=4)
    with pytest.raises(DataError, match="row 1: expected text with at least one token"):
        enc.encode_batch(["great", "<br />", "a b c d e f"], limit=4)  # first bad row wins
    bigrams = TextEncoder.fit(TEXTS, TextConfig(min_freq=1, ngrams=2, ngram_min_freq=1))
    assert bigrams.encode_batch([]) == [] and len(bigrams.encode_batch(["great", "fun"])) == 2
    assert [len(x) for x in enc.encode_batch(texts)] == [2, 3, 1]
    assert [len(x) for x in enc.encode_batch(texts, cut=False)] == [2, 6, 1]
    assert enc.encode_batch([]) == []


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_subword_encoders_clean_once(kind, monkeypatch):
    from padless.encode import text as text_module

    cfg = TextConfig(tokenizer=kind, max_size=200, min_freq=1, max_length=4)
    enc = TextEncoder.fit(TEXTS * 3, cfg)
    seen = []  # HF trainers break ties differently run to run: compare what they are given
    train = text_module._train_subword
    monkeypatch.setattr(text_module, "_train_subword", lambda t, c: seen.append(t) or train(t, c))
    TextEncoder.fit(TEXTS * 3, cfg)
    TextEncoder.fit(enc.clean(TEXTS * 3), cfg, cleaned=True)
    assert seen[0] == seen[1] == [clean_text(t) for t in TEXTS * 3]
    texts = ["Great<br />film &amp; plot", "terrible"]
    expected = [truncate(enc.tokenizer.encode(clean_text(t)).ids, 4) for t in texts]
    assert enc.encode_batch(texts) == expected
    assert enc.encode_batch(enc.clean(texts), cleaned=True) == expected


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_IMDB.is_file(), reason="shared IMDB CSV not available")
def test_imdb_encodes_to_the_reference_ids():
    """All 50,000 IMDB reviews: the batch path gives exactly the per-text pipeline's cleaned
    texts, tokens, vocabulary and ids."""
    with gzip.open(SHARED_IMDB, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    texts = [r[0] for r in rows]
    train = [r[0] for r in rows if r[2] == "train"]
    ref_clean = [clean_text(t) for t in texts]
    assert clean_batch(texts, lowercase=True, strip_html=True) == ref_clean
    ref_tokens = [word_tokenize(t) for t in ref_clean]
    flat, lengths = split_words(ref_clean)
    assert flat == list(chain.from_iterable(ref_tokens))
    assert lengths.tolist() == [len(t) for t in ref_tokens]
    cfg = TextConfig(max_size=20000, min_freq=2)
    enc = TextEncoder.fit(train, cfg)
    train_tokens = [word_tokenize(clean_text(t)) for t in train]
    vocab = Vocab.build(train_tokens, max_size=20000, min_freq=2)
    assert enc.vocab.tokens == vocab.tokens
    assert enc.encode_batch(texts, cut=False) == [vocab.encode(t) for t in ref_tokens]
