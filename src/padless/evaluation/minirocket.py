"""A MiniRocket baseline for numeric series, fitted on padless's encoded splits.

Shapes, with N examples, T steps (different per example), F features and C classes: the inputs
are N float arrays (T, F) as :class:`~padless.encode.splits.Split` holds them; outputs follow
:func:`padless.evaluation.metrics.compute_metrics`: binary (N,) logits, multiclass and
multilabel (N, C) logits, regression (N,) or (N, C) predictions.

Why the extra steps: aeon's MiniRocket takes one (N, F, L) array, so every series is first made
L long, with L the longest training series and at least 9, the shortest MiniRocket accepts
(``length_mode``: ``pad_zero`` right-pads with zeros, the mean of standardised values;
``pad_edge`` repeats the last step; ``resample`` interpolates linearly; a longer series met at
prediction keeps its head when padded). Patched inputs (``data.patch_size`` p) stay (T, p*F),
p channels, unless ``unpatch=True`` unfolds them to (T*p, F). The features go through a
StandardScaler to the MiniRocket paper's RidgeClassifierCV (alphas 10^-3..10^3) or to a
LogisticRegression (C = 1); RidgeCV for regression, a multi-output RidgeCV on +-1 targets for
multilabel. Of several length modes or classifiers, the best validation score wins (accuracy;
-MSE for regression; ties keep the earlier option); without a validation split a seeded 15% of
train decides and the winner is refit on all of train.

Defaults, from validation accuracy (15% of train held out, seeds 0-2; the test splits unseen):
no length mode wins on both UEA sets (JapaneseVowels pad_zero / pad_edge / resample 0.975 /
0.958 / 0.958; PLAID with 5-step patches kept 0.864 / 0.840 / 0.930, unfolded 0.909 / 0.909 /
0.856), so all three are compared on validation by default, on the patched layout; ridge beat
logistic regression on both. aeon and scikit-learn are optional (``padless[timeseries]``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padless.errors import data_error, import_optional

logger = logging.getLogger(__name__)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_LENGTH_MODES",
    "LENGTH_MODES",
    "MIN_LENGTH",
    "MiniRocketModel",
    "equal_length",
    "fit_minirocket",
]

LENGTH_MODES = ("pad_zero", "pad_edge", "resample")
DEFAULT_LENGTH_MODES = LENGTH_MODES  # compared on validation; see the module doc
CLASSIFIERS = ("ridge", "logistic")
MIN_LENGTH = 9  # the shortest series aeon's MiniRocket accepts
HOLDOUT_FRACTION = 0.15
_ALPHAS = np.logspace(-3, 3, 10)
_TASKS = ("binary", "multiclass", "multilabel", "regression")
_WHERE = "minirocket baseline"


@dataclass
class MiniRocketModel:
    """A fitted MiniRocket transform, scaler and linear model; ``params`` is JSON-able."""

    task: str
    num_classes: int
    params: dict[str, Any]
    transform: Any = field(repr=False)
    scaler: Any = field(repr=False)
    estimator: Any = field(repr=False)
    name: str = field(default="minirocket", init=False)

    def outputs(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Outputs for N series (T, F) in compute_metrics' convention (see module doc)."""
        p = self.params
        series = _series(inputs, p["patch_size"], p["unpatch"])
        x = equal_length(series, p["length_mode"], p["length"])
        feats = self.scaler.transform(self.transform.transform(x))
        return _scores(self.estimator, feats, self.task, self.num_classes)


def equal_length(series: Sequence[np.ndarray], mode: str, length: int) -> np.ndarray:
    """N series (T, F) → one float32 (N, F, length) array; longer series keep their head
    (``pad_*``) or are resampled (``resample``)."""
    if mode not in LENGTH_MODES:
        raise data_error(f"{_WHERE} length_mode", f"one of {LENGTH_MODES}", repr(mode))
    out = np.zeros((len(series), series[0].shape[1], length), dtype=np.float32)
    for i, x in enumerate(series):
        t = len(x)
        if mode == "resample":
            pos = np.linspace(0.0, t - 1, length)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, t - 1)
            w = (pos - lo)[:, None]
            out[i] = ((1.0 - w) * x[lo] + w * x[hi]).T
        else:
            k = min(t, length)
            out[i, :, :k] = x[:k].T
            if mode == "pad_edge":
                out[i, :, k:] = x[k - 1][:, None]
    return out


def _series(inputs: Sequence[np.ndarray], patch_size: int, unpatch: bool) -> list[np.ndarray]:
    """Check the (T, F) inputs and, with ``unpatch``, unfold (T, p*F) patches to (T*p, F)."""
    out = []
    for i, raw in enumerate(inputs):
        x = np.asarray(raw, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0 or x.shape[1] % patch_size:
            raise data_error(
                f"{_WHERE} example {i}",
                f"a non-empty numeric series (T, F) with F a multiple of patch_size {patch_size}",
                f"an array of shape {x.shape}",
                "pass the encoded numeric inputs of a Split (padless.encode.prepared.prepare)",
            )
        if unpatch and patch_size > 1:
            x = x.reshape(len(x) * patch_size, x.shape[1] // patch_size)
        out.append(x)
    if len({x.shape[1] for x in out}) > 1:
        raise data_error(_WHERE, "series with the same number of features", "several counts")
    return out


def _estimator(task: str, classifier: str) -> Any:
    lm = import_optional("sklearn.linear_model", _WHERE, "timeseries")
    if task == "regression":
        return lm.RidgeCV(alphas=_ALPHAS)
    if task == "multilabel":
        return lm.RidgeCV(alphas=_ALPHAS, alpha_per_target=True)
    if classifier == "logistic":
        return lm.LogisticRegression(C=1.0, max_iter=1000)
    return lm.RidgeClassifierCV(alphas=_ALPHAS)


def _scores(estimator: Any, feats: np.ndarray, task: str, num_classes: int) -> np.ndarray:
    """Raw scores in compute_metrics' convention; classes absent from train score lowest."""
    if task in ("regression", "multilabel"):
        return np.asarray(estimator.predict(feats), dtype=np.float64)
    d = np.asarray(estimator.decision_function(feats), dtype=np.float64)
    if task == "binary":
        return d
    classes = np.asarray(estimator.classes_, dtype=np.int64)
    full = np.full((len(feats), num_classes), float(d.min()) - 1.0)
    if d.ndim == 1:  # two classes seen in train: one score for classes[1]
        full[:, classes[0]], full[:, classes[1]] = -d, d
    else:
        full[:, classes] = d
    return full


def _score(task: str, y: np.ndarray, out: np.ndarray) -> float:
    """Validation score, higher is better: accuracy, or -MSE for regression."""
    if task == "regression":
        return -float(np.mean((out.reshape(y.shape) - y) ** 2))
    if task == "multiclass":
        return float(np.mean(out.argmax(axis=1) == y))
    return float(np.mean((out > 0) == (y > 0)))


def _targets(targets: Any, task: str, n: int, where: str) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64 if task == "regression" else np.int64)
    if len(y) != n:
        raise data_error(where, f"{n} targets, one per series", f"{len(y)}")
    return y if task != "multilabel" else 2 * y - 1


@dataclass
class _Fitted:
    transform: Any
    scaler: Any
    estimator: Any


def _fit(
    series: list[np.ndarray], mode: str, length: int, opts: dict[str, Any]
) -> tuple[_Fitted, np.ndarray]:
    """Fit the MiniRocket transform and scaler; return them (no estimator yet) and features."""
    conv = import_optional(
        "aeon.transformations.collection.convolution_based", _WHERE, "timeseries"
    )
    pre = import_optional("sklearn.preprocessing", _WHERE, "timeseries")
    x = equal_length(series, mode, length)
    rocket = conv.MiniRocket(
        n_kernels=opts["n_kernels"], random_state=opts["seed"], n_jobs=opts["n_jobs"]
    )
    feats = rocket.fit_transform(x)
    scaler = pre.StandardScaler().fit(feats)
    return _Fitted(rocket, scaler, None), scaler.transform(feats)


def _select(
    train: tuple[list[np.ndarray], np.ndarray],
    valid: tuple[list[np.ndarray], np.ndarray],
    modes: Sequence[str],
    classifiers: Sequence[str],
    opts: dict[str, Any],
) -> tuple[tuple[str, str], _Fitted, dict[str, float]]:
    """Fit every (length mode, classifier) on ``train``; keep the best on ``valid``."""
    scores: dict[str, float] = {}
    best: tuple[float, tuple[str, str], _Fitted] | None = None
    for mode in modes:
        fitted, feats = _fit(train[0], mode, opts["length"], opts)
        x_valid = equal_length(valid[0], mode, opts["length"])
        valid_feats = fitted.scaler.transform(fitted.transform.transform(x_valid))
        for clf in classifiers:
            est = _estimator(opts["task"], clf).fit(feats, train[1])
            out = _scores(est, valid_feats, opts["task"], opts["num_classes"])
            score = scores[f"{mode}/{clf}"] = _score(opts["task"], valid[1], out)
            logger.info("minirocket %s/%s: validation score %.4f", mode, clf, score)
            if best is None or score > best[0]:
                best = (score, (mode, clf), _Fitted(fitted.transform, fitted.scaler, est))
    assert best is not None
    return best[1], best[2], scores


def _holdout_choice(
    series: list[np.ndarray],
    y: np.ndarray,
    modes: Sequence[str],
    classifiers: Sequence[str],
    opts: dict[str, Any],
) -> tuple[tuple[str, str], dict[str, float]]:
    """The best option on a seeded 15% of train, fitted on the rest, and every score."""
    perm = np.random.default_rng(opts["seed"]).permutation(len(series))
    n_hold = max(1, round(HOLDOUT_FRACTION * len(series)))
    hold, keep = perm[:n_hold], perm[n_hold:]
    part = ([series[i] for i in keep], y[keep])
    held = ([series[i] for i in hold], y[hold])
    choice, _, scores = _select(part, held, modes, classifiers, opts)
    return choice, scores


def _regularisation(est: Any) -> dict[str, Any]:
    """The chosen ridge alpha (a list for multilabel: one per column), or logistic C."""
    if not hasattr(est, "alpha_"):
        return {"C": float(est.C)}
    alphas = [float(a) for a in np.ravel(est.alpha_)]
    return {"alpha": alphas[0] if len(alphas) == 1 else alphas}


def _options(value: str | Sequence[str], allowed: Sequence[str], key: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise data_error(f"{_WHERE} {key}", f"one or more of {tuple(allowed)}", repr(value))
    return values


def fit_minirocket(
    train_inputs: Sequence[np.ndarray],
    train_targets: Any,
    valid_inputs: Sequence[np.ndarray] | None,
    valid_targets: Any | None,
    *,
    task: str,
    num_classes: int,
    seed: int = 0,
    patch_size: int = 1,
    length_mode: str | Sequence[str] = DEFAULT_LENGTH_MODES,
    classifier: str | Sequence[str] = "ridge",
    unpatch: bool = False,
    n_kernels: int = 10_000,
    n_jobs: int = 1,
) -> MiniRocketModel:
    """Fit MiniRocket + a linear model on the train series (see module doc).

    ``length_mode`` and ``classifier`` may list several options (by default the three length
    modes and ridge); the best on the validation split (or, when ``valid_inputs`` is None, on
    a seeded 15% of train, then refit on all of train) is kept. ``params`` records every
    validation score. ``n_kernels`` is rounded down to a multiple of 84 by aeon.
    """
    if task not in _TASKS:
        raise data_error(
            f"{_WHERE} task", f"one of {', '.join(_TASKS)}", repr(task),
            "train the neural model only; MiniRocket scores whole series, not steps",
        )  # fmt: skip
    modes = _options(length_mode, LENGTH_MODES, "length_mode")
    clfs = _options(classifier, CLASSIFIERS, "classifier")
    if task in ("regression", "multilabel"):
        clfs = ["ridge"]  # logistic regression scores single-label classes only
    series = _series(train_inputs, patch_size, unpatch)
    y = _targets(train_targets, task, len(series), f"{_WHERE} train targets")
    if task in ("binary", "multiclass") and len(np.unique(y)) < 2:
        raise data_error(
            f"{_WHERE} train targets", "at least two classes", f"only {np.unique(y).tolist()}"
        )
    length = max(MIN_LENGTH, max(len(x) for x in series))
    opts: dict[str, Any] = {"n_kernels": n_kernels, "seed": seed, "n_jobs": n_jobs}
    opts |= {"length": length, "task": task, "num_classes": num_classes}
    scores: dict[str, float] = {}
    chosen_on = "nothing (one option)"
    if valid_inputs is not None:
        valid = _series(valid_inputs, patch_size, unpatch)
        y_valid = _targets(valid_targets, task, len(valid), f"{_WHERE} valid targets")
        (mode, clf), fitted, scores = _select((series, y), (valid, y_valid), modes, clfs, opts)
        chosen_on = "the validation split"
    else:
        mode, clf = modes[0], clfs[0]
        if len(modes) * len(clfs) > 1:
            (mode, clf), scores = _holdout_choice(series, y, modes, clfs, opts)
            chosen_on = f"a seeded {HOLDOUT_FRACTION:.0%} of train, then refit on all of train"
        fitted, feats = _fit(series, mode, length, opts)
        fitted.estimator = _estimator(task, clf).fit(feats, y)
    est = fitted.estimator
    reg = _regularisation(est)
    params = {
        "n_kernels": n_kernels, "seed": seed, "patch_size": patch_size, "unpatch": unpatch,
        "length_mode": mode, "length": length, "classifier": clf, **reg,
        "validation_scores": scores, "chosen_on": chosen_on,
    }  # fmt: skip
    return MiniRocketModel(task, num_classes, params, fitted.transform, fitted.scaler, est)
