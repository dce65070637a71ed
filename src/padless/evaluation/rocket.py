"""Fit a :class:`~padless.models.rocket.RocketLinear` (MiniRocket-style) model on padless splits.

Shapes, with N examples, T steps (different per example, may be 1), F features, K outputs:
the inputs are N float32 arrays (T, F); :meth:`RocketModel.scores` gives (N, K) float32
scores (K = 1 for binary and one-target regression, else C), and :meth:`RocketModel.outputs`
follows :func:`padless.evaluation.metrics.compute_metrics` (binary (N,) logits, multiclass and
multilabel (N, C), regression (N,) or (N, C)).

Why: the transform is the torch module that is saved, exported and served, so the features
the classifier is fitted on are the module's own (parity by construction), computed on each
series' real steps (no truncation or resampling to one length, unlike aeon's MiniRocket).

Fitting (after MiniRocket): dilations from a reference train length (``length_quantile`` of
the train lengths; 1.0, the longest, by default, as MiniRocket uses its one input length),
at most 32 per kernel; per (dilation, kernel) a seeded random subset of 1..min(F, 9) inputs;
biases at MiniRocket's low-discrepancy quantiles of the "same"-padded convolution output of
one random training series; standardisation from train. ``length_mode``: ``native`` counts
each series' real steps only; ``pad_zero`` reads a series shorter than the reference length
L as zero-padded to L (the module's ``min_length``; what aeon sees with ``pad_zero``, and it
keeps the length as information), a longer one whole. Then a linear model on the standardised
features, its regularisation chosen by validation score (accuracy, -MSE for regression; ties
go to the lower validation log loss of the sigmoid / softmax, then to the earlier option):
``logistic`` (multinomial / binary logistic regression, C in 10^-4..1) or ``ridge``
(one-vs-rest +-1 targets, alpha in 10^-3..10^3); regression and multilabel use ridge only.
Several classifiers or length modes may be listed: all are compared on validation. Without
a validation split a seeded 15% of train is held out for the choice (the label-free transform
and scaler still use all of train), then the choice is refit on all of train.

Defaults, from validation accuracy (15% of train held out, seeds 0-2, best of each grid;
the test splits unseen), logistic / ridge: JapaneseVowels native 0.925 / 0.933, pad_zero
0.975 / 0.983; PLAID (5-step patches) native 0.885 / 0.893, pad_zero 0.905 / 0.872 (aeon
MiniRocket + ridge: JapaneseVowels 0.975; PLAID resampled 0.930, zero-padded 0.864). So
``pad_zero`` and ``logistic``: its outputs are log-odds, which is what mixing them as
probabilities with a recurrent model's needs (JapaneseVowels seed 0 validation log loss of
the softmax 0.065 against ridge's 1.02: ridge's +-1 regression scores are no logits).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from padless.errors import data_error, import_optional
from padless.models.rocket import NUM_KERNELS, RocketLinear

logger = logging.getLogger(__name__)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_CLASSIFIER",
    "DEFAULT_LENGTH_MODE",
    "LENGTH_MODES",
    "RocketModel",
    "fit_dilations",
    "fit_rocket_model",
]

CLASSIFIERS = ("logistic", "ridge")
DEFAULT_CLASSIFIER = "logistic"  # see the module doc
LENGTH_MODES = ("native", "pad_zero")
DEFAULT_LENGTH_MODE = "pad_zero"
MAX_DILATIONS = 32
HOLDOUT_FRACTION = 0.15
_C_GRID = tuple(float(c) for c in np.logspace(-4, 0, 5))
_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 7))
_TASKS = ("binary", "multiclass", "multilabel", "regression")
_ABSENT = -1e4  # intercept of a class absent from train: never predicted
_CELLS = 1 << 26  # comparison booleans per batch and dilation: bounds memory
_WHERE = "rocket model"


@dataclass
class RocketModel:
    """A fitted :class:`RocketLinear` and how it was chosen; ``params`` is JSON-able."""

    task: str
    num_classes: int
    params: dict[str, Any]
    module: RocketLinear = field(repr=False)
    name: str = field(default="rocket", init=False)

    def scores(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """(N, K) float32 scores of N series (T, F), computed by the torch module."""
        series = _series(inputs, self.module.num_features_in)
        return _run(self.module, series, transform=False)

    def outputs(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Outputs for N series (T, F) in compute_metrics' convention (see module doc)."""
        s = self.scores(inputs)
        return s[:, 0] if s.shape[1] == 1 and self.task in ("binary", "regression") else s

    def to_module(self) -> RocketLinear:
        """A copy of the fitted module (eval mode): inputs (B, T, F), lengths (B,)."""
        return copy.deepcopy(self.module).eval()

    def module_config(self) -> dict[str, Any]:
        """JSON-able: ``RocketLinear.from_config(cfg)`` then ``load_state_dict``."""
        return self.module.config()


def fit_dilations(length: int, n_features: int) -> tuple[list[int], list[int]]:
    """MiniRocket's dilations for series ``length`` long (< 9 gives dilation 1) and features
    per dilation, summing to ``n_features // 84`` per kernel."""
    per_kernel = n_features // NUM_KERNELS
    n_dil = min(per_kernel, MAX_DILATIONS)
    top = np.log2(max(length - 1, 8) / 8)
    raw = np.floor(np.logspace(0, top, n_dil, base=2)).astype(np.int64)
    dilations, counts = np.unique(raw, return_counts=True)
    per = np.floor(counts * (per_kernel / n_dil)).astype(np.int64)
    for i in range(per_kernel - int(per.sum())):
        per[i % len(per)] += 1
    return [int(d) for d in dilations], [int(n) for n in per]


def _series(inputs: Sequence[np.ndarray], num_features: int | None = None) -> list[np.ndarray]:
    out = []
    for i, raw in enumerate(inputs):
        x = np.asarray(raw, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0 or x.shape[1] != (num_features or x.shape[1]):
            want = f"{num_features} features" if num_features else "the same F throughout"
            raise data_error(
                f"{_WHERE} example {i}",
                f"a non-empty numeric series (T, F), {want}",
                f"an array of shape {x.shape}",
                "pass the encoded numeric inputs of a Split (padless.encode.prepared.prepare)",
            )
        num_features = num_features or x.shape[1]
        out.append(x)
    return out


def _batches(lengths: np.ndarray, per_step: int) -> list[np.ndarray]:
    """Indices by length, cut so that a batch holds at most ``_CELLS`` comparison cells."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * lengths[order[end]] * per_step <= _CELLS:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def _padded(series: list[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.array([len(series[i]) for i in idx])
    x = np.zeros((len(idx), int(lengths.max()), series[idx[0]].shape[1]), dtype=np.float32)
    for row, i in enumerate(idx):
        x[row, : lengths[row]] = series[i]
    return torch.from_numpy(x), torch.from_numpy(lengths.astype(np.int64))


@torch.no_grad()
def _run(module: RocketLinear, series: list[np.ndarray], transform: bool) -> np.ndarray:
    """Module features (``transform``) or scores of every series, batched by length."""
    width = module.num_transform_features if transform else module.num_outputs
    out = np.zeros((len(series), width), dtype=np.float32)
    if not series:
        return out
    lengths = np.array([len(x) for x in series])
    per_step = NUM_KERNELS * max(module.features_per_dilation)
    for idx in _batches(lengths, per_step):
        x, lens = _padded(series, idx)
        res = module.transform(x, lens) if transform else module(x, lens)
        out[idx] = res.numpy()
    return out


def _fit_biases(module: RocketLinear, series: list[np.ndarray], rng: np.random.Generator) -> None:
    """Biases at low-discrepancy quantiles of one random series' conv output per kernel."""
    total = module.num_transform_features
    quantiles = (np.arange(1, total + 1) * ((np.sqrt(5) + 1) / 2)) % 1
    biases = np.zeros(total, dtype=np.float32)
    start = 0
    for i, n in enumerate(module.features_per_dilation):
        idx = rng.integers(len(series), size=NUM_KERNELS)
        x, lens = _padded(series, idx)
        x = torch.nn.functional.pad(x, (0, 0, 0, module.min_length))
        with torch.no_grad():
            conv = module.conv(x, lens, i).numpy()
        for k in range(NUM_KERNELS):
            q = quantiles[start + k * n : start + (k + 1) * n]
            steps = max(int(lens[k]), module.min_length)
            biases[start + k * n : start + (k + 1) * n] = np.quantile(conv[k, k, :steps], q)
        start += NUM_KERNELS * n
    module.biases.copy_(torch.from_numpy(biases))


def _transform(series: list[np.ndarray], mode: str, opts: dict[str, Any]) -> RocketLinear:
    """A module with the fitted transform (dilations, channel subsets, biases), no head."""
    n_features, seed = opts["n_features"], opts["seed"]
    length = int(np.ceil(np.quantile([len(x) for x in series], opts["length_quantile"])))
    dilations, per = fit_dilations(length, n_features)
    num_in = series[0].shape[1]
    module = RocketLinear(num_in, dilations, per, 1, length if mode == "pad_zero" else 0)
    rng = np.random.default_rng(seed)
    n_comb = NUM_KERNELS * len(dilations)
    top = np.log2(min(num_in, 9) + 1)
    counts = np.floor(2 ** rng.uniform(0, top, n_comb)).astype(np.int64)
    mask = np.zeros((num_in, n_comb), dtype=np.float32)
    for c, n in enumerate(counts):
        mask[rng.choice(num_in, int(n), replace=False), c] = 1.0
    module.channel_mask.copy_(torch.from_numpy(mask))
    _fit_biases(module, series, rng)
    return module


def _estimator(task: str, classifier: str, value: float) -> Any:
    lm = import_optional("sklearn.linear_model", _WHERE, "timeseries")
    if classifier == "logistic":
        return lm.LogisticRegression(C=value, max_iter=2000)
    if task in ("regression", "multilabel"):
        return lm.Ridge(alpha=value)
    return lm.RidgeClassifier(alpha=value)


def _head(est: Any, task: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weight (K, N) and intercept (K,) of the fitted estimator, on standardised features.
    Multiclass: classes absent from train get weight 0 and a very low intercept; two seen
    classes share one decision d as -d/2, +d/2 (the same softmax as sigmoid(d))."""
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    icpt = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if task != "multiclass":
        return coef.reshape(k, -1), icpt.reshape(k)
    w = np.zeros((k, coef.shape[1]))
    b = np.full(k, _ABSENT)
    classes = np.asarray(est.classes_, dtype=np.int64)
    if len(coef) == 1:
        w[classes[0]], b[classes[0]] = -coef[0] / 2, -icpt[0] / 2
        w[classes[1]], b[classes[1]] = coef[0] / 2, icpt[0] / 2
    else:
        w[classes], b[classes] = coef, icpt
    return w, b


def _score(task: str, y: np.ndarray, out: np.ndarray) -> float:
    """Validation score, higher is better: accuracy (per label for multilabel), or -MSE."""
    if task == "regression":
        return -float(np.mean((out.reshape(y.shape) - y) ** 2))
    if task == "multiclass":
        return float(np.mean(out.argmax(axis=1) == y))
    return float(np.mean((out.reshape(y.shape) > 0) == (y > 0)))


@dataclass
class _Prepared:
    """One length mode's fitted transform and standardised train / eval features."""

    module: RocketLinear
    mean: np.ndarray
    std: np.ndarray
    z: np.ndarray
    z_eval: np.ndarray | None = None


def _prepare(series: list[np.ndarray], mode: str, opts: dict[str, Any]) -> _Prepared:
    module = _transform(series, mode, opts)
    feats = _run(module, series, transform=True).astype(np.float64)
    mean, std = feats.mean(axis=0), feats.std(axis=0)
    std[std == 0] = 1.0
    return _Prepared(module, mean, std, (feats - mean) / std)


def _log_loss(task: str, y: np.ndarray, out: np.ndarray) -> float:
    """Mean log loss of sigmoid / softmax outputs (classification), else 0."""
    if task == "binary":
        d = out.reshape(-1)
        return float(np.mean(np.logaddexp(0.0, d) - (y > 0) * d))
    if task == "multiclass":
        top = out.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(out - top).sum(axis=1))
        return float(np.mean(lse - out[np.arange(len(y)), y]))
    return 0.0


def _decide(
    preps: dict[str, _Prepared], y: np.ndarray, fit_idx: np.ndarray, y_eval: np.ndarray,
    opts: dict[str, Any],
) -> tuple[tuple[str, str, float], dict[str, dict[str, float]]]:  # fmt: skip
    """Fit every (length mode, classifier, value) on rows ``fit_idx``; the best on eval:
    highest score, then lowest log loss (the outputs are mixed as probabilities)."""
    scores: dict[str, float] = {}
    losses: dict[str, float] = {}
    best: tuple[float, float, tuple[str, str, float]] | None = None
    for mode, prep in preps.items():
        assert prep.z_eval is not None
        for clf in opts["classifiers"]:
            for value in _C_GRID if clf == "logistic" else _ALPHAS:
                est = _estimator(opts["task"], clf, value).fit(prep.z[fit_idx], y[fit_idx])
                w, b = _head(est, opts["task"], opts["k"])
                key = f"{mode}/{clf}/{value:g}"
                out = prep.z_eval @ w.T + b
                score = scores[key] = _score(opts["task"], y_eval, out)
                loss = losses[key] = _log_loss(opts["task"], y_eval, out)
                logger.info("rocket %s: validation score %.4f, log loss %.4f", key, score, loss)
                if best is None or (score, -loss) > (best[0], -best[1]):
                    best = (score, loss, (mode, clf, value))
    assert best is not None
    return best[2], {"scores": scores, "log_loss": losses}


def _targets(targets: Any, task: str, n: int, where: str) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64 if task == "regression" else np.int64)
    if len(y) != n:
        raise data_error(where, f"{n} targets, one per series", f"{len(y)}")
    return y if task != "multilabel" else 2 * y - 1


def _options(value: str | Sequence[str], allowed: Sequence[str], key: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    if not values or any(v not in allowed for v in values):
        raise data_error(f"{_WHERE} {key}", f"one or more of {tuple(allowed)}", repr(value))
    return values


def _check(task: str, opts: dict[str, Any]) -> None:
    if task not in _TASKS:
        raise data_error(
            f"{_WHERE} task", f"one of {', '.join(_TASKS)}", repr(task),
            "train the neural model only; the rocket model scores whole series, not steps",
        )  # fmt: skip
    if opts["n_features"] < NUM_KERNELS or not 0.0 <= opts["length_quantile"] <= 1.0:
        raise data_error(
            _WHERE, f"n_features >= {NUM_KERNELS} and 0 <= length_quantile <= 1",
            f"{opts['n_features']} and {opts['length_quantile']}",
        )  # fmt: skip


def _final(prep: _Prepared, est: Any, task: str, k: int) -> RocketLinear:
    """The fitted transform with the standardisation and the estimator as its head."""
    w, b = _head(est, task, k)
    cfg = prep.module.config() | {"num_outputs": k}
    final = RocketLinear.from_config(cfg)
    final.load_state_dict(
        prep.module.state_dict()
        | {
            "mean": torch.tensor(prep.mean, dtype=torch.float32),
            "std": torch.tensor(prep.std, dtype=torch.float32),
            "linear.weight": torch.tensor(w, dtype=torch.float32),
            "linear.bias": torch.tensor(b, dtype=torch.float32),
        }
    )
    return final.eval()


def fit_rocket_model(
    train_inputs: Sequence[np.ndarray],
    train_targets: Any,
    valid_inputs: Sequence[np.ndarray] | None,
    valid_targets: Any | None,
    *,
    task: str,
    num_classes: int,
    seed: int = 0,
    n_features: int = 10_000,
    classifier: str | Sequence[str] = DEFAULT_CLASSIFIER,
    length_mode: str | Sequence[str] = DEFAULT_LENGTH_MODE,
    length_quantile: float = 1.0,
) -> RocketModel:
    """Fit the transform, scaler and linear head on train; choose the regularisation (and,
    given several, the classifier and length mode) on validation (see module doc)."""
    opts: dict[str, Any] = {"n_features": n_features, "seed": seed}
    opts |= {"length_quantile": length_quantile, "task": task}
    _check(task, opts)
    clfs = _options(classifier, CLASSIFIERS, "classifier")
    opts["classifiers"] = ["ridge"] if task in ("regression", "multilabel") else clfs
    modes = _options(length_mode, LENGTH_MODES, "length_mode")
    series = _series(train_inputs)
    y = _targets(train_targets, task, len(series), f"{_WHERE} train targets")
    if task in ("binary", "multiclass") and len(np.unique(y)) < 2:
        raise data_error(
            f"{_WHERE} train targets", "at least two classes", f"only {np.unique(y).tolist()}"
        )
    k = 1 if task == "binary" or (task == "regression" and y.ndim == 1) else y.shape[-1]
    opts["k"] = k = num_classes if task == "multiclass" else k
    preps = {mode: _prepare(series, mode, opts) for mode in modes}
    if valid_inputs is not None:
        valid = _series(valid_inputs, series[0].shape[1])
        y_eval = _targets(valid_targets, task, len(valid), f"{_WHERE} valid targets")
        for p in preps.values():
            p.z_eval = (_run(p.module, valid, transform=True) - p.mean) / p.std
        fit_idx = np.arange(len(series))
        chosen_on = "the validation split"
    else:
        perm = np.random.default_rng(seed).permutation(len(series))
        n_hold = max(1, round(HOLDOUT_FRACTION * len(series)))
        fit_idx, hold = perm[n_hold:], perm[:n_hold]
        y_eval = y[hold]
        for p in preps.values():
            p.z_eval = p.z[hold]
        chosen_on = f"a seeded {HOLDOUT_FRACTION:.0%} of train, then refit on all of train"
    (mode, clf, value), found = _decide(preps, y, fit_idx, y_eval, opts)
    est = _estimator(task, clf, value).fit(preps[mode].z, y)
    module = _final(preps[mode], est, task, k)
    params = {
        "n_features": n_features, "seed": seed, "length_quantile": length_quantile,
        "length_mode": mode, "min_length": module.min_length, "dilations": module.dilations,
        "features_per_dilation": module.features_per_dilation, "classifier": clf,
        ("C" if clf == "logistic" else "alpha"): value,
        "validation_scores": found["scores"], "validation_log_loss": found["log_loss"],
        "chosen_on": chosen_on,
    }  # fmt: skip
    return RocketModel(task, num_classes, params, module)
