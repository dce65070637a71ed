import pytest

from padless.config import TextConfig
from padless.encode.text import TextEncoder, clean_text, truncate, word_tokenize
from padless.encode.vocab import Vocab
from padless.errors import DataError

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


def test_vocab_cap_and_ids():
    v = Vocab.build([["b", "a", "a", "c", "c", "c"], ["d"]], max_size=4, min_freq=1)
    assert v.tokens == ["<pad>", "<unk>", "c", "a"]
    assert v.encode(["c", "zzz"]) == [2, 1]
    v2 = Vocab.build([["a", "b", "b"]], max_size=10, min_freq=2)
    assert v2.tokens == ["<pad>", "<unk>", "b"]


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


def test_bigram_vocab_counts_pairs_from_text_start():
    from padless.encode.vocab import BigramVocab

    b = BigramVocab.build([[2, 3, 4], [2, 3], [5, 1, 2]], offset=10, max_size=10, min_freq=2)
    # (0, 2) "start, 2" and (2, 3) occur twice; pairs with <unk> (1) are never kept
    assert b.pairs == [(0, 2), (2, 3)]
    assert b.encode([2, 3, 9]) == [10, 11, 0]
    capped = BigramVocab.build([[2, 3, 4]] * 3 + [[7, 8]], offset=5, max_size=2, min_freq=1)
    assert capped.pairs == [(0, 2), (2, 3)]


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
