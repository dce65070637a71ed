"""Vocabularies: building, the batch lookups (``Vocab.lookup``, ``Vocab.from_counts``,
``BigramVocab.from_flat`` / ``lookup_flat``) against their per-row definitions."""

from collections import Counter
from itertools import chain

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.encode.vocab import PAD, UNK, BigramVocab, Vocab

_token = st.sampled_from(["a", "b", "c", "d", "e", "B", "é", "<pad>", "<unk>", "x'y", ","])
_lists = st.lists(st.lists(_token, max_size=8), max_size=6)


def test_vocab_cap_and_ids():
    v = Vocab.build([["b", "a", "a", "c", "c", "c"], ["d"]], max_size=4, min_freq=1)
    assert v.tokens == ["<pad>", "<unk>", "c", "a"]
    assert v.encode(["c", "zzz"]) == [2, 1]
    v2 = Vocab.build([["a", "b", "b"]], max_size=10, min_freq=2)
    assert v2.tokens == ["<pad>", "<unk>", "b"]
    with pytest.raises(ValueError, match="at least 3"):
        Vocab.build([["a"]], max_size=2)


@settings(max_examples=200, deadline=None)
@given(lists=_lists, max_size=st.integers(3, 8), min_freq=st.integers(1, 3))
def test_from_counts_equals_build(lists, max_size, min_freq):
    built = Vocab.build(lists, max_size=max_size, min_freq=min_freq)
    counts = Counter(chain.from_iterable(lists))
    for tokens, values in (
        (list(counts), list(counts.values())),
        (list(counts)[::-1], np.array(list(counts.values())[::-1])),  # any order, an array
    ):
        got = Vocab.from_counts(tokens, values, max_size=max_size, min_freq=min_freq)
        assert got.tokens == built.tokens
    assert PAD not in built.tokens[2:] and UNK not in built.tokens[2:]


def test_from_counts_adds_up_repeated_tokens_and_checks_sizes():
    v = Vocab.from_counts(["a", "b", "a"], [1, 2, 2], max_size=10, min_freq=3)
    assert v.tokens == [PAD, UNK, "a"]
    with pytest.raises(ValueError, match="2 tokens but 1 counts"):
        Vocab.from_counts(["a", "b"], [1], max_size=10, min_freq=1)
    with pytest.raises(ValueError, match="at least 3"):
        Vocab.from_counts(["a"], [1], max_size=2, min_freq=1)


@given(lists=_lists, probe=st.lists(_token | st.text(max_size=3), max_size=10))
def test_lookup_equals_encode(lists, probe):
    v = Vocab.build(lists, min_freq=1)
    ids = v.lookup(probe)
    assert ids.dtype == np.int32 and ids.tolist() == v.encode(probe)
    assert v.lookup([]).shape == (0,)


def test_bigram_vocab_counts_pairs_from_text_start():
    b = BigramVocab.build([[2, 3, 4], [2, 3], [5, 1, 2]], offset=10, max_size=10, min_freq=2)
    # (0, 2) "start, 2" and (2, 3) occur twice; pairs with <unk> (1) are never kept
    assert b.pairs == [(0, 2), (2, 3)]
    assert b.encode([2, 3, 9]) == [10, 11, 0]
    capped = BigramVocab.build([[2, 3, 4]] * 3 + [[7, 8]], offset=5, max_size=2, min_freq=1)
    assert capped.pairs == [(0, 2), (2, 3)]


_id_rows = st.lists(st.lists(st.integers(1, 7), max_size=8), max_size=8)


def _flat(rows):
    ids = np.array(list(chain.from_iterable(rows)), dtype=np.int64)
    return ids, np.array([len(r) for r in rows], dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(rows=_id_rows, max_size=st.integers(0, 12), min_freq=st.integers(1, 3))
def test_bigram_from_flat_equals_build(rows, max_size, min_freq):
    ids, lengths = _flat(rows)
    built = BigramVocab.build(rows, offset=8, max_size=max_size, min_freq=min_freq)
    got = BigramVocab.from_flat(ids, lengths, offset=8, max_size=max_size, min_freq=min_freq)
    assert got.pairs == built.pairs and got.offset == built.offset


@settings(max_examples=200, deadline=None)
@given(table=_id_rows, rows=st.lists(st.lists(st.integers(0, 12), max_size=8), max_size=8))
def test_bigram_lookup_flat_equals_encode(table, rows):
    b = BigramVocab.build(table, offset=8, max_size=20, min_freq=1)
    ids, lengths = _flat(rows)  # ids up to 12: some beyond every kept pair
    got = b.lookup_flat(ids, lengths)
    assert got.dtype == np.int64
    assert got.tolist() == list(chain.from_iterable(b.encode(r) for r in rows))


def test_bigram_table_round_trips(tmp_path):
    b = BigramVocab.build([[2, 3, 4], [2, 3]], offset=10, max_size=10, min_freq=1)
    b.save(tmp_path / "bigrams.json")
    again = BigramVocab.load(tmp_path / "bigrams.json")
    assert again.pairs == b.pairs
    ids, lengths = _flat([[2, 3, 4], [3, 4]])
    assert again.lookup_flat(ids, lengths).tolist() == b.lookup_flat(ids, lengths).tolist()
