"""The mixture of a recurrent model with a fitted linear path: how it is built and mixed.

A combined model (:mod:`padless.train.combination`) is a :class:`SequenceClassifier` whose
``mix_path`` argument names a second, linear path fitted by scikit-learn on the train split
(not by gradient) and ``mix_weight`` the share of its probabilities:

* ``{"kind": "ngram", "buckets": M, "prime": P}``: TF-IDF of word unigrams and hashed bigrams
  of the token ids (:class:`NgramLinear`);
* ``{"kind": "rocket", **RocketLinear.config()}``: MiniRocket-style features of numeric series,
  computed on each sequence's real steps (:class:`RocketLinear`);

its outputs (B, C) are mixed with the recurrent path's by :func:`mix_outputs`. Both are plain
JSON values in the artifact's config, and the path's tensors arrive with the state dict, so the
saved model rebuilds with zero-filled tensors first (:func:`build_path`).
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from padless.models.names import PATH_KINDS
from padless.models.ngram import NgramLinear
from padless.models.rocket import RocketLinear

__all__ = ["build_path", "check_mix", "mix_outputs", "reads_ids"]


def check_mix(path: dict[str, Any], weight: float, vocab_size: int | None, task: str) -> None:
    """Raise ValueError when ``path`` / ``weight`` cannot combine with this model."""
    kind = path.get("kind")
    if kind not in PATH_KINDS:
        raise ValueError(f"mix_path: expected a kind among {PATH_KINDS}, got {kind!r}")
    if task == "tagging":
        raise ValueError("mix_path: a path for per-sequence tasks; tagging has none")
    if kind == "ngram" and vocab_size is None:
        raise ValueError("mix_path: the n-gram path reads token ids")
    if kind == "rocket" and vocab_size is not None:
        raise ValueError("mix_path: the rocket path reads numeric features")
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"mix_weight: expected a value in (0, 1], got {weight}")


def build_path(path: dict[str, Any], vocab_size: int | None, num_outputs: int) -> nn.Module:
    """The linear path ``path`` describes, zero-filled (its tensors come with the weights)."""
    if path["kind"] == "rocket":
        return RocketLinear.from_config({k: v for k, v in path.items() if k != "kind"})
    assert vocab_size is not None  # check_mix: the n-gram path reads token ids
    features = vocab_size + int(path["buckets"])
    return NgramLinear(
        torch.zeros(features),
        torch.zeros(features, num_outputs),
        torch.zeros(num_outputs),
        vocab_size=vocab_size,
        buckets=int(path["buckets"]),
        prime=int(path["prime"]),
    )


def reads_ids(path: dict[str, Any]) -> bool:
    """Whether the path reads the word ids (column 0 of (B, T, K) ids) rather than the
    model's own inputs."""
    return path.get("kind") == "ngram"


def mix_outputs(recurrent: Tensor, other: Tensor, weight: float, task: str) -> Tensor:
    """The combined outputs (B, C): the recurrent path's probabilities mixed with the other
    path's, ``(1 - weight) * p + weight * q``, returned as the task's logits so every loss,
    metric and export reads them like any model's: binary / multilabel ``log p - log(1 - p)``
    per column, multiclass ``log p``; regression mixes the values."""
    if task == "regression":
        return (1.0 - weight) * recurrent + weight * other
    keep = math.log(1.0 - weight) if weight < 1.0 else -math.inf
    take = math.log(weight)
    if task == "multiclass":
        a = torch.log_softmax(recurrent, dim=-1) + keep
        return _logaddexp(a, torch.log_softmax(other, dim=-1) + take)
    log_p = _logaddexp(F.logsigmoid(recurrent) + keep, F.logsigmoid(other) + take)
    log_q = _logaddexp(F.logsigmoid(-recurrent) + keep, F.logsigmoid(-other) + take)
    return log_p - log_q


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)) from ops every exporter knows (one side may be -inf, not both)."""
    top = torch.maximum(a, b)
    return top + torch.log(torch.exp(a - top) + torch.exp(b - top))
