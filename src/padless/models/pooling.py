"""Masked pooling: a sequence's (B, T, D*H) encoder outputs to one (B, D*H) vector per sequence.

Shapes: B batch, T time steps (padded length), H hidden size, D directions (1 or 2).
:class:`MaskedPooling` reads real steps only, so a pooled vector does not depend on how much
padding follows its sequence: ``last`` takes each direction's final state (the forward one at
step ``length - 1``, the reverse one at step 0), ``mean`` / ``max`` are masked (padded values
never count, whatever they hold), ``attention`` is a learned query with a softmax that gives
padded steps zero weight. An empty row (length 0) pools to zeros, never NaN or -inf, as
AllenNLP's masked operations return. The classifier pools
with it; its ``"mean"`` kind also averages the embedded steps for ``embedding_skip``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from padless.models.names import POOLINGS
from padless.nn.lengths import lengths_mask


class MaskedPooling(nn.Module):
    """(B, T, D*H) outputs → (B, D*H), reading real steps only.

    ``last`` concatenates the forward direction at step ``length - 1`` with the reverse
    direction at step 0 (its final state), i.e. the correct bidirectional final states;
    ``mean`` / ``max`` are masked; ``attention`` is a learned query with a masked softmax.
    """

    def __init__(self, kind: str, size: int, num_directions: int):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"pooling: expected one of {POOLINGS}, got {kind!r}")
        self.kind, self.num_directions = kind, num_directions
        self.score: nn.Linear | None = nn.Linear(size, 1) if kind == "attention" else None

    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        lengths = lengths.to(outputs.device)
        mask = lengths_mask(lengths, outputs.shape[1])[..., None]  # (B, T, 1)
        empty = (lengths == 0)[:, None]  # (B, 1): an empty row pools to zeros
        if self.kind == "mean":  # masked: padded values never count, whatever they hold
            total = outputs.masked_fill(~mask, 0.0).sum(1)
            return total / lengths.clamp(min=1)[:, None].to(outputs.dtype)
        if self.kind == "max":
            peak = outputs.masked_fill(~mask, float("-inf")).amax(1)
            return peak.masked_fill(empty, 0.0)
        if self.score is not None:  # kind "attention"
            scores = self.score(outputs).masked_fill(~mask, float("-inf"))  # (B, T, 1)
            scores = scores.masked_fill(empty[..., None], 0.0)  # an empty row: no -inf row, no NaN
            weights = torch.softmax(scores, dim=1).masked_fill(~mask, 0.0)
            return (weights * outputs.masked_fill(~mask, 0.0)).sum(1)
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        last = outputs[rows, (lengths - 1).clamp(min=0)].masked_fill(empty, 0.0)  # (B, D*H)
        if self.num_directions == 1:
            return last
        h = outputs.shape[-1] // 2
        first = outputs[:, 0, h:].masked_fill(empty, 0.0)
        return torch.cat([last[:, :h], first], dim=-1)
