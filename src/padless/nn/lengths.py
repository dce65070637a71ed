"""Length helpers shared by every model: masks, reversal within each length, validation.

Shapes: B batch, T time steps (padded length). Every model takes right-padded inputs with
their (B,) lengths; these functions turn lengths into a (B, T) mask of real steps
(:func:`lengths_mask`), reverse each sequence within its own length so a reverse direction
starts at its own last real step (:func:`reverse_within_length`), and refuse lengths that do
not fit the batch (:func:`check_lengths`; every length in [1, T]).
"""

from __future__ import annotations

import torch
from torch import Tensor


def lengths_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths → (B, T) bool mask, True at real steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of (B, T, ...) within its first ``lengths[b]`` steps; padding stays
    in place. The operation is its own inverse."""
    b, t = x.shape[:2]
    steps = torch.arange(t, device=x.device)[None, :].expand(b, t)
    lens = lengths.to(x.device)[:, None]
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (B, T)
    index = index.reshape(b, t, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def check_lengths(lengths: Tensor, batch: int, max_len: int) -> Tensor:
    """Validate (B,) lengths against a (B, T, ...) input; return them as int64."""
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"lengths: expected shape ({batch},) matching the batch, got "
            f"{tuple(lengths.shape)}. Fix: pass one length per sequence."
        )
    if lengths.is_floating_point():
        raise ValueError(
            f"lengths: expected an integer tensor, got {lengths.dtype}. Fix: lengths.long()."
        )
    lengths = lengths.long()
    if batch and bool((lengths < 1).any()):
        bad = torch.nonzero(lengths < 1).flatten().tolist()
        raise ValueError(
            f"lengths: expected every length ≥ 1, got 0 at rows {bad}. Fix: remove "
            "empty sequences before batching (padless never pads them silently)."
        )
    if batch and int(lengths.max()) > max_len:
        raise ValueError(
            f"lengths: expected at most T={max_len} (the padded time axis), got "
            f"{int(lengths.max())}. Fix: pad inputs to the longest sequence."
        )
    return lengths
