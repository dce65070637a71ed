"""A linear n-gram baseline on encoded token ids: hashed word 1-2-grams, TF-IDF, then
logistic regression (classification) or ridge (regression), fitted with scikit-learn.

Shapes (legend: N examples, B batch, T steps, V vocabulary, M bigram buckets, F = V + M
feature columns, K outputs):

* an example is a (T,) int64 array of ids in [0, V) (a (T, 2) array uses column 0, the word);
* unigram id ``u`` is column ``u``; the bigram of consecutive ids ``(a, b)`` is column
  ``V + (a * P + b) mod M`` (int64, no overflow for V < 2**24 since P < 2**31);
* counts -> sublinear tf ``1 + ln(count)`` times ``idf = ln((1 + n) / (1 + df)) + 1`` (df over
  the train documents), then each row is L2-normalised (an empty row stays zero), which is
  scikit-learn's ``TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2")``; columns
  with ``df < min_df`` and column 0 (padding) get idf 0, as if a vectorizer had dropped them;
* the model keeps ``idf`` (F,), ``coef`` (K, F) and ``intercept`` (K,); its score is
  ``X @ coef.T + intercept`` (N, K), returned in :func:`compute_metrics`' convention (binary
  and one-target regression (N,), otherwise (N, K)).

The score is one definition on purpose: :class:`padless.models.ngram.NgramLinear` computes the
same numbers in torch from (B, T) ids and lengths, so the baseline can be exported and served.
The regularisation strength is chosen on the validation split only (or, without one, on a
seeded 15% of train, then refitted on all of train). scikit-learn is optional: it is imported
inside the functions that need it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from padless.errors import data_error, import_optional

if TYPE_CHECKING:
    from padless.models.ngram import NgramLinear

__all__ = ["BUCKETS", "PRIME", "NgramModel", "fit_ngram_model", "ngram_features", "tfidf"]

logger = logging.getLogger(__name__)

BUCKETS = 2**20
PRIME = 1_327_217_909  # a prime < 2**31 whose residue mod 2**20 mixes ids well
C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
ALPHA_GRID = (0.0625, 0.25, 1.0, 4.0, 16.0)
_TASKS = ("binary", "multiclass", "multilabel", "regression")
_WHERE = "n-gram baseline"
_MORE = "lower min_df or train on more examples"
Csr = Any  # a scipy.sparse.csr_matrix (scipy comes with scikit-learn, an optional dependency)


def _sparse() -> Any:
    return import_optional("scipy.sparse", _WHERE, "bench")


def _ids(x: Any, vocab_size: int, i: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[:, 0]
    if a.ndim != 1:
        raise data_error(f"{_WHERE} example {i}", "a (T,) or (T, 2) id array", f"{a.shape}")
    a = a.astype(np.int64, copy=False)
    if a.size and (a.min() < 0 or a.max() >= vocab_size):
        raise data_error(
            f"{_WHERE} example {i}",
            f"token ids in [0, {vocab_size})",
            f"ids in [{a.min()}, {a.max()}]",
            "pass the pipeline's vocab_size and ids it encoded",
        )
    return a


def ngram_features(
    inputs: Sequence[Any], vocab_size: int, buckets: int = BUCKETS, prime: int = PRIME
) -> Csr:
    """Unigram + hashed-bigram counts (N, V + M) of ``inputs`` (see the module docstring)."""
    docs = [_ids(x, vocab_size, i) for i, x in enumerate(inputs)]
    flat = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs]).astype(np.int64)
    # a bigram starts at every position whose successor is in the same document
    same = rows[:-1] == rows[1:] if flat.size else np.zeros(0, dtype=bool)
    first, second = flat[:-1][same], flat[1:][same]
    bigrams = vocab_size + (first * prime + second) % buckets
    cols = np.concatenate([flat, bigrams])
    all_rows = np.concatenate([rows, rows[:-1][same]])
    shape = (len(docs), vocab_size + buckets)
    out = _sparse().csr_matrix((np.ones(cols.size), (all_rows, cols)), shape=shape)
    out.sum_duplicates()
    return out


def _idf(counts: Csr, min_df: int) -> np.ndarray:
    """Smoothed idf of every column, 0 for column 0 and columns seen in < min_df rows."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    idf[df < min_df], idf[0] = 0.0, 0.0
    return idf


def tfidf(counts: Csr, idf: np.ndarray) -> Csr:
    """Sublinear tf times ``idf``, each row L2-normalised (zeros dropped; empty rows stay 0)."""
    x = counts.copy().astype(np.float64)
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    x.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return _sparse().csr_matrix(_sparse().diags(scale) @ x)


@dataclass
class NgramModel:
    """A fitted n-gram baseline: ``idf`` (F,), ``coef`` (K, F), ``intercept`` (K,)."""

    name: str
    task: str
    vocab_size: int
    buckets: int
    prime: int
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    squeeze: bool
    params: dict[str, Any] = field(default_factory=dict)

    def scores(self, inputs: Sequence[Any]) -> np.ndarray:
        """The decision function (N, K) ``X @ coef.T + intercept``."""
        x = tfidf(ngram_features(inputs, self.vocab_size, self.buckets, self.prime), self.idf)
        return np.asarray(x @ self.coef.T) + self.intercept

    def outputs(self, inputs: Sequence[Any]) -> np.ndarray:
        """Scores in :func:`compute_metrics`' convention (binary / one target: (N,))."""
        s = self.scores(inputs)
        return s[:, 0] if self.squeeze else s

    def to_module(self) -> NgramLinear:
        """The same score as a torch module (B, T) ids, (B,) lengths -> (B, K)."""
        import torch

        from padless.models.ngram import NgramLinear

        return NgramLinear(
            torch.as_tensor(self.idf, dtype=torch.float32),
            torch.as_tensor(self.coef.T.copy(), dtype=torch.float32),
            torch.as_tensor(self.intercept, dtype=torch.float32),
            vocab_size=self.vocab_size,
            buckets=self.buckets,
            prime=self.prime,
        )


def _fit_one(task: str, x: Csr, y: np.ndarray, reg: float, seed: int) -> Any:
    lm = import_optional("sklearn.linear_model", _WHERE, "bench")
    if task == "regression":
        return lm.Ridge(alpha=reg, random_state=seed).fit(x, y)
    solver = "lbfgs" if task == "multiclass" else "liblinear"  # liblinear: fast, two classes
    return lm.LogisticRegression(C=reg, solver=solver, max_iter=1000, random_state=seed).fit(x, y)


def _fit_linear(
    task: str, x: Csr, y: np.ndarray, reg: float, seed: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(coef (K, F'), intercept (K,)) of one model (one binary LR per column for multilabel)."""
    if task == "multilabel":
        fits = [_fit_linear("binary", x, y[:, j], reg, seed, 1) for j in range(k)]
        return np.concatenate([f[0] for f in fits]), np.concatenate([f[1] for f in fits])
    if task != "regression" and np.unique(y).size < 2:  # one label in train: constant logits
        b = np.full(k, -30.0)
        if task == "multiclass" or y[0]:
            b[int(y[0]) if task == "multiclass" else 0] = 30.0
        return np.zeros((k, x.shape[1])), b
    m = _fit_one(task, x, y, reg, seed)
    coef = np.atleast_2d(m.coef_)
    b = np.atleast_1d(np.asarray(m.intercept_, dtype=np.float64))
    if task == "multiclass" and coef.shape[0] == 1:  # two classes: sklearn keeps one row
        coef, b = np.vstack([-coef / 2, coef / 2]), np.concatenate([-b / 2, b / 2])
    if task == "multiclass" and coef.shape[0] != k:  # classes absent from train
        full, fb = np.zeros((k, x.shape[1])), np.full(k, -30.0)
        full[m.classes_], fb[m.classes_] = coef, b
        return full, fb
    return coef, b


def _score(task: str, y: np.ndarray, s: np.ndarray) -> float:
    """Validation score, higher is better: accuracy (element accuracy) or minus MSE."""
    if task == "regression":
        return -float(np.mean((s.reshape(y.shape) - y) ** 2))
    if task == "multiclass":
        return float(np.mean(s.argmax(axis=1) == y))
    pred = (s > 0).astype(np.int64)
    return float(np.mean(pred.reshape(y.shape) == y))


def _check_task(task: str, num_classes: int | None) -> int:
    if task not in _TASKS:
        raise data_error(
            f"{_WHERE} task",
            f"one of {', '.join(_TASKS)}",
            repr(task),
            "per-step tagging has no bag-of-n-grams baseline; skip the baseline for tagging",
        )
    if task in ("multiclass", "multilabel") and not num_classes:
        raise data_error(f"{_WHERE} ({task})", "num_classes", repr(num_classes))
    return 1 if task == "binary" else int(num_classes or 1)


def _features(
    train: Sequence[Any], other: Sequence[Any], v: int, buckets: int, prime: int, min_df: int
) -> tuple[Csr, Csr, np.ndarray, np.ndarray]:
    """Train / other TF-IDF matrices on the active columns, the idf and the active columns."""
    counts = ngram_features(train, v, buckets, prime)
    idf = _idf(counts, min_df)
    active = np.flatnonzero(idf)
    xt = tfidf(counts, idf)[:, active]
    xo = tfidf(ngram_features(other, v, buckets, prime), idf)[:, active]
    sp = _sparse()
    return sp.csr_matrix(xt), sp.csr_matrix(xo), idf, active


def _choose(
    task: str, grid: Sequence[float], data: tuple, seed: int, k: int
) -> tuple[float, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """The grid value with the best validation score (ties: the more regularised one), every
    score, and the fit with it. ``data`` is (x_train, y_train, x_valid, y_valid)."""
    xt, yt, xv, yv = data
    scores: dict[str, float] = {}
    best: tuple[float, float, tuple[np.ndarray, np.ndarray]] | None = None
    for reg in grid:
        fit = _fit_linear(task, xt, yt, reg, seed, k)
        scores[str(reg)] = s = _score(task, yv, np.asarray(xv @ fit[0].T) + fit[1])
        # C grows along the grid (ties keep the smaller), alpha too (ties take the larger)
        if best is None or s > best[1] or (task == "regression" and s == best[1]):
            best = (reg, s, fit)
    assert best is not None
    logger.info("n-gram baseline: %s validation scores %s -> %s", task, scores, best[0])
    return best[0], scores, best[2]


def fit_ngram_model(
    train_inputs: Sequence[Any],
    train_targets: Any,
    valid_inputs: Sequence[Any] | None,
    valid_targets: Any,
    *,
    task: str,
    num_classes: int | None,
    vocab_size: int,
    seed: int = 0,
    buckets: int = BUCKETS,
    min_df: int = 2,
) -> NgramModel:
    """Fit the baseline on train, choosing C (alpha) on valid; see the module docstring.

    Without a validation split (None or empty) a seeded 15% of train chooses C, then the
    model is refitted on all of train. Raises :class:`DataError` for tagging or bad ids.
    """
    k = _check_task(task, num_classes)
    dtype = np.float64 if task == "regression" else np.int64
    y = np.asarray(train_targets, dtype=dtype)
    if len(train_inputs) == 0:
        raise data_error(_WHERE, "at least one train example", "none")
    refit = valid_inputs is None or len(valid_inputs) == 0
    if refit:
        order = np.random.default_rng(seed).permutation(len(train_inputs))
        hold, keep = np.split(order, [max(1, int(round(0.15 * len(order))))])
        sel = ([train_inputs[i] for i in keep], y[keep], [train_inputs[i] for i in hold], y[hold])
    else:
        sel = (list(train_inputs), y, list(valid_inputs or []), np.asarray(valid_targets, dtype))
    xt, xv, idf, active = _features(sel[0], sel[2], vocab_size, buckets, PRIME, min_df)
    if active.size == 0:
        raise data_error(
            _WHERE, f"some n-gram in at least min_df={min_df} train examples", "none", _MORE
        )
    grid = ALPHA_GRID if task == "regression" else C_GRID
    best, scores, best_fit = _choose(task, grid, (xt, sel[1], xv, sel[3]), seed, k)
    if refit:
        xt, _, idf, active = _features(train_inputs, [], vocab_size, buckets, PRIME, min_df)
        best_fit = _fit_linear(task, xt, y, best, seed, k)
    full = np.zeros((k, vocab_size + buckets))
    full[:, active] = best_fit[0]
    key = "alpha" if task == "regression" else "C"
    params = {
        key: best,
        "grid": list(grid),
        "valid_scores": scores,
        "score": "neg_mse" if task == "regression" else "accuracy",
        "selection": "train holdout 15%" if refit else "valid split",
        "active_features": int(active.size),
        "buckets": buckets,
        "prime": PRIME,
        "min_df": min_df,
    }
    return NgramModel(
        name="tfidf-ridge" if task == "regression" else "tfidf-logreg",
        task=task,
        vocab_size=vocab_size,
        buckets=buckets,
        prime=PRIME,
        idf=idf,
        coef=full,
        intercept=best_fit[1].astype(np.float64),
        squeeze=task == "binary" or (task == "regression" and y.ndim == 1),
        params=params,
    )
