from pathlib import Path

import numpy as np
import pytest

from padless.errors import DataError
from padless.evaluation import ngrams
from padless.evaluation.metrics import compute_metrics
from padless.evaluation.ngrams import PRIME, fit_ngram_model, ngram_features, tfidf

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
V, M = 40, 16  # few buckets: hashed bigrams collide, as they do at full size


def random_docs(rng, n, vocab=V, max_len=30, zeros=False):
    low = 0 if zeros else 1
    # a small alphabet per document so ids repeat (sublinear tf matters)
    return [
        rng.choice(rng.integers(low, vocab, size=5), size=int(rng.integers(0, max_len)))
        for _ in range(n)
    ]


def analyzer(doc):
    """The same n-grams as names: unigrams but padding, then hashed bigrams."""
    d = [int(i) for i in doc]
    uni = [f"u{i}" for i in d if i != 0]
    return uni + [f"b{(a * PRIME + b) % M}" for a, b in zip(d, d[1:], strict=False)]


def column(name):
    return int(name[1:]) if name[0] == "u" else V + int(name[1:])


def signal_docs(rng, n, vocab=V):
    """Documents whose label is whether word 3 occurs more often than word 4."""
    docs = random_docs(rng, n, vocab)
    docs = [
        np.concatenate([d, [3] * int(rng.integers(0, 3)), [4] * int(rng.integers(0, 3))])
        for d in docs
    ]
    labels = np.array([int((d == 3).sum() > (d == 4).sum()) for d in docs])
    return [rng.permutation(d).astype(np.int64) for d in docs], labels


# ------------------------------------------------------------------------- featurization
def test_features_count_unigrams_and_hashed_bigrams():
    x = ngram_features([np.array([2, 3, 2, 3]), np.array([], dtype=np.int64)], 5, 7, PRIME)
    assert x.shape == (2, 12)
    row = x.toarray()[0]
    assert row[2] == 2 and row[3] == 2
    assert row[5 + (2 * PRIME + 3) % 7] == 2  # (2, 3) twice
    assert row[5 + (3 * PRIME + 2) % 7] >= 1
    assert row.sum() == 4 + 3 and x.toarray()[1].sum() == 0


def test_two_column_inputs_use_the_word_column():
    words = np.array([4, 1, 4])
    pairs = np.stack([words, np.array([9, 9, 9])], axis=1)
    a, b = ngram_features([words], 10, M), ngram_features([pairs], 10, M)
    assert (a != b).nnz == 0


def test_no_overflow_at_the_largest_vocabulary():
    big = 2**24 - 1
    x = ngram_features([np.array([big, big])], 2**24, 2**20)
    col = 2**24 + (big * PRIME + big) % 2**20
    assert x[0, col] == 1 and x[0, big] == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tfidf_equals_sklearn_vectorizer(seed):
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(seed)
    train, other = random_docs(rng, 80, zeros=True), random_docs(rng, 20, zeros=True)
    train.append(np.zeros(0, dtype=np.int64))
    kw = {"analyzer": analyzer, "min_df": 2, "lowercase": False}
    vec = TfidfVectorizer(sublinear_tf=True, **kw).fit(train)
    counts = ngram_features(train, V, M)
    idf = ngrams._idf(counts, min_df=2)
    names = vec.get_feature_names_out()
    cols = np.array([column(n) for n in names])
    assert set(np.flatnonzero(idf)) == set(cols)  # the same kept columns
    for docs in (train, other):
        ours = tfidf(ngram_features(docs, V, M), idf).toarray()
        theirs = vec.transform(docs).toarray()
        np.testing.assert_allclose(ours[:, cols], theirs, rtol=1e-12, atol=1e-12)
        assert np.abs(np.delete(ours, cols, axis=1)).max(initial=0.0) == 0.0
        # the check has teeth: plain tf gives a different matrix on the same documents
        plain = TfidfVectorizer(sublinear_tf=False, **kw).fit(train).transform(docs)
        assert np.abs(ours[:, cols] - plain.toarray()).max() > 1e-3


def test_model_scores_are_the_linear_function_of_the_tfidf_matrix():
    rng = np.random.default_rng(0)
    docs, y = signal_docs(rng, 200)
    m = fit_ngram_model(
        docs[:150],
        y[:150],
        docs[150:],
        y[150:],
        task="binary",
        num_classes=2,
        vocab_size=V,
        buckets=M,
    )
    x = tfidf(ngram_features(docs[150:], V, M), m.idf)
    np.testing.assert_allclose(m.outputs(docs[150:]), x @ m.coef[0] + m.intercept[0])
    assert m.name == "tfidf-logreg" and m.coef.shape == (1, V + M) and m.idf.shape == (V + M,)
    assert m.idf[0] == 0 and m.params["active_features"] == np.count_nonzero(m.idf)
    assert compute_metrics("binary", y[150:], m.outputs(docs[150:]))["accuracy"] > 0.7


# ------------------------------------------------------------------------------ selection
def test_c_is_the_best_on_validation_ties_to_the_smaller():
    rng = np.random.default_rng(1)
    docs, y = signal_docs(rng, 300)
    m = fit_ngram_model(
        docs[:200],
        y[:200],
        docs[200:],
        y[200:],
        task="binary",
        num_classes=2,
        vocab_size=V,
        buckets=M,
    )
    scores = m.params["valid_scores"]
    best = max(scores.values())
    assert m.params["C"] == min(float(c) for c, s in scores.items() if s == best)
    acc = float(np.mean((m.outputs(docs[200:]) > 0) == y[200:]))
    assert acc == pytest.approx(scores[str(m.params["C"])])
    assert m.params["selection"] == "valid split"


def test_choice_depends_on_validation_labels_only():
    """The fit sees no test split; different validation labels give different scores."""
    rng = np.random.default_rng(2)
    docs, y = signal_docs(rng, 300)
    args = {"task": "binary", "num_classes": 2, "vocab_size": V, "buckets": M}
    a = fit_ngram_model(docs[:200], y[:200], docs[200:], y[200:], **args)
    b = fit_ngram_model(docs[:200], y[:200], docs[200:], y[200:], **args)
    assert a.params == b.params
    np.testing.assert_array_equal(a.coef, b.coef)
    flipped = fit_ngram_model(docs[:200], y[:200], docs[200:], 1 - y[200:], **args)
    assert flipped.params["valid_scores"] != a.params["valid_scores"]


def test_without_validation_a_train_holdout_chooses_then_all_train_refits(monkeypatch):
    rng = np.random.default_rng(3)
    docs, y = signal_docs(rng, 200)
    args = {"task": "binary", "num_classes": 2, "vocab_size": V, "buckets": M}
    seen = []
    choose = ngrams._choose
    monkeypatch.setattr(ngrams, "_choose", lambda *a: seen.append(a[2]) or choose(*a))
    m = fit_ngram_model(docs, y, None, None, **args)
    xt, yt, xv, yv = seen[0]
    assert (xt.shape[0], xv.shape[0]) == (170, 30)
    assert m.params["selection"] == "train holdout 15%"
    # the final model is the one fitted on all of train with the chosen C
    monkeypatch.setattr(ngrams, "C_GRID", (m.params["C"],))
    direct = fit_ngram_model(docs, y, docs[:5], y[:5], **args)
    np.testing.assert_allclose(m.coef, direct.coef)
    np.testing.assert_allclose(m.idf, direct.idf)
    assert fit_ngram_model(docs, y, [], [], **args).params["selection"] == "train holdout 15%"


# ------------------------------------------------------------------------------ the tasks
def test_multiclass_multilabel_and_regression_fit_compute_metrics():
    rng = np.random.default_rng(4)
    docs = random_docs(rng, 240)
    counts = np.stack([[(d == w).sum() for w in (3, 4, 5)] for d in docs])
    cls = counts.argmax(axis=1)
    multi = (counts > 0).astype(np.int64)
    reg = counts.astype(np.float64)
    for task, y, k in [
        ("multiclass", cls, 3),
        ("multilabel", multi, 3),
        ("regression", reg, 3),
        ("regression", reg[:, 0], None),
    ]:
        m = fit_ngram_model(
            docs[:180],
            y[:180],
            docs[180:],
            y[180:],
            task=task,
            num_classes=k,
            vocab_size=V,
            buckets=M,
        )
        out = m.outputs(docs[180:])
        assert out.shape == ((60, 3) if task == "multiclass" else y[180:].shape)
        metrics = compute_metrics(task, y[180:], out, k)
        if task != "regression":
            assert metrics["accuracy"] > 0.6, (task, metrics)
            assert m.name == "tfidf-logreg" and "C" in m.params
        else:
            assert m.name == "tfidf-ridge" and "alpha" in m.params


def test_tagging_and_bad_ids_are_data_errors():
    docs = [np.array([1, 2]), np.array([2, 3])]
    with pytest.raises(DataError, match="tagging"):
        fit_ngram_model(docs, [0, 1], None, None, task="tagging", num_classes=2, vocab_size=V)
    with pytest.raises(DataError, match=r"token ids in \[0, 3\)"):
        ngram_features([np.array([1, 3])], 3, M)
    with pytest.raises(DataError, match="min_df"):
        fit_ngram_model(
            docs, [0, 1], None, None, task="binary", num_classes=2, vocab_size=V, min_df=5
        )


# ------------------------------------------------------------------------ real text (IMDB)
def test_imdb_sample_is_well_above_chance():
    from padless.config import load_config
    from padless.encode.prepared import prepare

    p = prepare(load_config(ROOT / "configs" / "imdb-sample.toml"))
    tr, va, te = p.splits["train"], p.splits["valid"], p.splits["test"]
    assert p.pipeline.vocab_size is not None
    m = fit_ngram_model(
        tr.inputs,
        tr.targets,
        va.inputs,
        va.targets,
        task=p.labels.task,
        num_classes=len(p.labels.classes),
        vocab_size=p.pipeline.vocab_size,
    )
    test = compute_metrics(p.labels.task, np.asarray(te.targets), m.outputs(te.inputs), 2)
    assert test["accuracy"] > 0.75, (m.params, test)
