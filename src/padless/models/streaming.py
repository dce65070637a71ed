"""Stateful streaming: feed a sequence piece by piece and get the prediction for everything
seen so far, computed from the carried recurrent state in O(new steps).

Shapes: T new steps (the appended piece's), F input features per step, E embedding size, H
hidden size, L layers, C outputs. A :class:`Stream` holds, per sequence, the recurrent state of
every layer (h, and c for an LSTM) and what the pooling needs to be updated without re-reading
old steps: the last output (``last``), a running sum and count (``mean``), a running maximum
(``max``), or an online softmax (running maximum score, weighted sum and normaliser, for
``attention``), plus the running sum of embedded steps for ``embedding_skip``. Appending steps
runs the recurrent layers (:mod:`padless.nn`'s drop-in layers sharing the model's weights)
from that state over the new steps only, so after any split of a sequence into pieces the result
equals the whole-sequence prediction (float rounding aside).

Only models whose step t depends on steps ≤ t can stream: unidirectional, without a conv
front end (its window looks ahead), a transformer (it attends to every step), bigram ids or
patches (they join neighbouring steps). :func:`streamable` says why a model cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from padless.models.classifier import SequenceClassifier
from padless.models.encoder import RecurrentEncoder
from padless.models.hybrid import HybridEncoder
from padless.nn.layers import GRU, LSTM, RNN

_RNN = {"lstm": LSTM, "gru": GRU, "rnn": RNN}  # padless.nn: the engine under every model


def streamable(model: SequenceClassifier, ids_per_step: int = 1, patch_size: int = 1) -> str | None:
    """None if ``model`` can stream, else the reason it cannot (for a 409 response)."""
    enc = model.encoder
    if isinstance(enc, HybridEncoder):
        return "an RNN → Transformer hybrid attends to every step, later ones included"
    if enc.bidirectional:
        return "a bidirectional model reads each sequence from its end too"
    if model.conv is not None:
        return "the conv front end's window reads steps ahead of the current one"
    if ids_per_step != 1:
        return "bigram ids join each token with the next one"
    if patch_size != 1:
        return "data.patch_size folds later steps into the current one"
    if model.mix is not None:
        return "a combined model's linear path reads the whole sequence (train.combine)"
    return None


@dataclass
class StreamState:
    """What one sequence carries between appends (tensors of batch 1)."""

    steps: int = 0
    hidden: Tensor | tuple[Tensor, Tensor] | None = None  # (L, 1, H) or LSTM (h, c)
    last: Tensor | None = None  # (1, H): the last output
    total: Tensor | None = None  # (1, H): running sum (mean) or maximum (max)
    score_max: Tensor | None = None  # (1, 1) attention: running maximum score
    weight_sum: Tensor | None = None  # (1, 1) attention: Σ exp(score - score_max)
    skip_sum: Tensor | None = None  # (1, E): running sum of embedded steps


class Stream:
    """Incremental prediction for one streamable model (see the module docstring).

    ``append(state, x)`` takes the new steps as the model reads them (ids (T,), or features
    (T, F)) and returns logits: (C,) for a pooled model, (T, C) for tagging (one row per new
    step).
    """

    def __init__(self, model: SequenceClassifier):
        reason = streamable(model)
        if reason is not None:
            raise ValueError(f"this model cannot stream: {reason}")
        self.model = model.eval()
        enc = model.encoder
        assert isinstance(enc, RecurrentEncoder)  # streamable() refused the hybrid
        kwargs = {"nonlinearity": enc.nonlinearity} if enc.cell == "rnn" else {}
        self.rnn = _RNN[enc.cell](
            enc.input_size, enc.hidden_size, enc.num_layers, batch_first=True, **kwargs
        )
        self.rnn.load_state_dict(enc.state_dict())  # nn.LSTM / GRU / RNN parameter names
        self.rnn.eval()
        self.tagging = model.pool is None
        self.pooling = None if model.pool is None else model.pool.kind
        self.score = None if model.pool is None else model.pool.score  # a Linear: "attention"

    @torch.inference_mode()
    def append(self, state: StreamState, steps: np.ndarray) -> np.ndarray:
        m = self.model
        x = m.embed(torch.as_tensor(np.asarray(steps))[None])  # (1, T, E)
        out, state.hidden = self.rnn(x, state.hidden)  # (1, T, H)
        state.steps += x.shape[1]
        if self.tagging:
            return m.head(out)[0].numpy()  # (T, C)
        self._pool(state, out)
        pooled = self._pooled(state)
        if m.skip is not None:
            s = x.sum(1)
            skip_sum = s if state.skip_sum is None else state.skip_sum + s
            state.skip_sum = skip_sum
            pooled = torch.cat([pooled, skip_sum / state.steps], dim=-1)
        return m.head(pooled)[0].numpy()  # (C,)

    def _pool(self, state: StreamState, out: Tensor) -> None:
        """Fold the new outputs (1, T, H) into the running values of the pooling."""
        state.last = out[:, -1]
        if self.pooling == "mean":
            s = out.sum(1)
            state.total = s if state.total is None else state.total + s
        elif self.pooling == "max":
            mx = out.amax(1)
            state.total = mx if state.total is None else torch.maximum(state.total, mx)
        elif self.score is not None:  # "attention"
            _attend(state, out, self.score)

    def _pooled(self, state: StreamState) -> Tensor:
        if self.pooling == "mean":
            return _held(state.total) / state.steps
        if self.pooling == "max":
            return _held(state.total)
        if self.pooling == "attention":
            return _held(state.total) / _held(state.weight_sum)
        return _held(state.last)  # "last"


def _attend(state: StreamState, out: Tensor, score: nn.Linear) -> None:
    """Online softmax over all steps so far: rescale the running weighted sum and normaliser
    to the new maximum score, then add the new steps (1, T, H)."""
    scores = score(out)  # (1, T, 1)
    new_max = scores.amax(1)  # (1, 1)
    old_max, total, weight_sum = state.score_max, state.total, state.weight_sum
    if old_max is not None:
        new_max = torch.maximum(new_max, old_max)
    w = torch.exp(scores - new_max[:, None])  # (1, T, 1)
    part, norm = (w * out).sum(1), w.sum(1)
    if old_max is not None and total is not None and weight_sum is not None:
        decay = torch.exp(old_max - new_max)
        part, norm = part + decay * total, norm + decay * weight_sum
    state.score_max, state.total, state.weight_sum = new_max, part, norm


def _held(value: Tensor | None) -> Tensor:
    """A running value :meth:`Stream._pool` has set (every append pools before it reads)."""
    if value is None:
        raise RuntimeError("Stream: a pooled value was read before any step was appended")
    return value
