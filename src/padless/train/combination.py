"""The combined model: the trained recurrent model beside a fitted linear model, mixed.

On text a linear TF-IDF n-gram model is hard to beat with little data, and it errs on other
examples than a recurrent model does (IMDB: 0.906 against 0.897 on the same rows); on numeric
series a MiniRocket-style transform plays that part (PLAID: 0.93 against 0.70). With
``train.combine = "auto"`` a run fits that linear path on its train split before training
(:func:`fit_path`) and afterwards mixes the probabilities, ``(1 - w) * p_recurrent + w *
p_linear`` (:func:`padless.models.mixture.mix_outputs`), with the weight ``w`` in
:data:`WEIGHTS` that scores best on the validation split by the run's monitored metric (ties:
the smaller ``w``; ``w = 0`` keeps the recurrent model alone; :func:`combine`). The test split
plays no part. A run without a validation split takes the weight its hold-out selection chose
(:mod:`padless.train.selection`) and attaches the path fitted on all of train.

A chosen mix becomes the run's model: a :class:`SequenceClassifier` whose ``mix_path`` /
``mix_weight`` arguments add the linear path, so the artifact, ``padless evaluate``, the ONNX
and TorchScript exports and the server all run the mix like any model. ``metrics.json``
records every weight's validation value under ``"combination"``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from padless.config import Config
from padless.encode.splits import Prepared
from padless.evaluation.baseline import Baseline
from padless.evaluation.losses import compute_loss
from padless.evaluation.metrics import compute_metrics
from padless.evaluation.runner import split_outputs, targets_array
from padless.models.classifier import build_model
from padless.models.mixture import mix_outputs
from padless.train.run import Run

__all__ = ["WEIGHTS", "attach", "can_combine", "choose_weight", "combine", "fit_path"]

logger = logging.getLogger(__name__)

#: The linear path's weights tried on validation.
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def can_combine(cfg: Config, data: Prepared) -> bool:
    """Whether ``train.combine`` applies: ``"auto"`` and a per-sequence task (token inputs
    take the n-gram path, numeric series the rocket path)."""
    return cfg.train.combine == "auto" and data.labels.task != "tagging"


def fit_path(cfg: Config, data: Prepared, baseline: Baseline | None) -> Any:
    """The linear path fitted on ``data``'s train split (its regularisation chosen on valid):
    the n-gram model for tokens (the text baseline's own when it was fitted), the rocket
    model for numeric series."""
    if baseline is not None and hasattr(baseline.model, "to_module"):
        return baseline.model
    train, valid, task = data.splits["train"], data.splits.get("valid"), data.labels.task
    args = (
        train.inputs,
        targets_array(train, task),
        valid.inputs if valid is not None else None,
        targets_array(valid, task) if valid is not None else None,
    )
    classes = len(data.labels.classes)
    if data.pipeline.kind == "numeric":
        from padless.evaluation.rocket import fit_rocket_model

        return fit_rocket_model(*args, task=task, num_classes=classes, seed=cfg.train.seed)
    from padless.evaluation.ngrams import fit_ngram_model

    vocab = data.pipeline.vocab_size
    assert vocab is not None  # token pipelines know their vocabulary
    return fit_ngram_model(
        *args, task=task, num_classes=classes, vocab_size=int(vocab), seed=cfg.train.seed
    )


def choose_weight(
    task: str,
    targets: np.ndarray,
    recurrent: np.ndarray,
    other: np.ndarray,
    monitor: str,
    minimise: bool,
    num_classes: int,
) -> tuple[float, dict[str, float]]:
    """(the chosen weight, each weight's validation value): the mix of the outputs
    ``recurrent`` and ``other`` (N, C) that scores best by ``monitor``."""
    a, b = torch.from_numpy(recurrent).float(), torch.from_numpy(other).float()
    y = torch.from_numpy(targets)
    values: dict[str, float] = {}
    for w in WEIGHTS:
        out = a if w == 0 else mix_outputs(a, b, w, task)
        if monitor == "loss":
            values[str(w)] = float(compute_loss(out, y, task))
        else:
            scores = compute_metrics(task, targets, out.numpy(), num_classes)
            values[str(w)] = float(scores.get(monitor) or 0.0)
    best = (min if minimise else max)(values.values())
    return next(w for w in WEIGHTS if values[str(w)] == best), values


def combine(run: Run, path: Any) -> dict[str, Any]:
    """Choose the mix with the fitted linear ``path`` on validation and :func:`attach` it when
    it beats the recurrent model alone. Returns the ``"combination"`` entry of
    ``metrics.json``."""
    valid, task = run.data.splits["valid"], run.task
    recurrent = split_outputs(
        run.model, valid, task, batch_size=run.cfg.train.eval_batch_size, device=run.device
    )
    other = np.asarray(path.scores(valid.inputs), dtype=np.float32).reshape(recurrent.shape)
    weight, values = choose_weight(
        task,
        targets_array(valid, task),
        recurrent,
        other,
        run.monitor,
        run.book.mode == "min",
        len(run.data.labels.classes),
    )
    logger.info(
        "combination on validation (%s by the weight of %s): %s -> %s",
        run.monitor,
        path.name,
        ", ".join(f"{w}: {v:.4f}" for w, v in values.items()),
        f"mix with weight {weight}" if weight else "the recurrent model alone",
    )
    if weight > 0:
        attach(run, path, weight)
    return {
        "path": path.name,
        "monitor": run.monitor,
        "valid": values,
        "weight": weight,
        "combined": weight > 0,
    }


def attach(run: Run, path: Any, weight: float) -> None:
    """Make ``run.model`` the mix of its trained weights and the fitted ``path`` at
    ``weight`` (and ``run.model_kwargs`` its arguments)."""
    module = path.to_module()
    if hasattr(path, "module_config"):  # the rocket path: its sizes
        config = {"kind": "rocket", **path.module_config()}
    else:
        config = {"kind": "ngram", "buckets": module.buckets, "prime": module.prime}
    kwargs = {**run.model_kwargs, "mix_path": config, "mix_weight": weight}
    model = build_model(kwargs)
    state = run.model.state_dict()
    state.update({f"mix.{k}": v for k, v in module.state_dict().items()})
    model.load_state_dict(state)
    run.model, run.model_kwargs = model.to(run.device), kwargs
