"""Length helpers shared by every model: masks, reversal within each length, validation.

Shapes: B batch, T time steps (padded length). Every model takes right-padded inputs with
their (B,) lengths; these functions turn lengths into a (B, T) mask of real steps
(:func:`lengths_mask`), reverse each sequence within its own length so a reverse direction
starts at its own last real step (:func:`reverse_within_length`), and refuse lengths that do
not fit the batch (:func:`check_lengths`; every length in [1, T]).
"""

from __future__ import annotations

from collections.abc import Sequence

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


def check_lengths(lengths: Tensor, batch: int, max_len: int, min_length: int = 1) -> Tensor:
    """Validate (B,) lengths against a (B, T, ...) input; return them as int64. Models refuse
    empty rows (``min_length=1``: a transformer or attention has nothing to attend to); the
    recurrent layers take them (``min_length=0``)."""
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
    if batch and bool((lengths < min_length).any()):
        bad = torch.nonzero(lengths < min_length).flatten().tolist()
        raise ValueError(
            f"lengths: expected every length ≥ {min_length}, got "
            f"{lengths[bad[0]].item()} at rows {bad}. Fix: remove empty sequences before "
            "batching (padless never pads them silently)."
        )
    if batch and int(lengths.max()) > max_len:
        raise ValueError(
            f"lengths: expected at most T={max_len} (the padded time axis), got "
            f"{int(lengths.max())}. Fix: pad inputs to the longest sequence."
        )
    return lengths


def as_lengths(
    lengths: Tensor | Sequence[int] | None, batch: int, max_len: int, device: torch.device
) -> Tensor:
    """A layer's ``lengths=`` argument as (B,) int64 on ``device``: a tensor (any integer dtype,
    any device), a list or a tuple, each in [0, T]; None means every row is T steps long."""
    if lengths is None:
        return torch.full((batch,), max_len, dtype=torch.int64, device=device)
    if not isinstance(lengths, Tensor):
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in lengths):
            raise TypeError(
                f"lengths: expected integers, got {[type(n).__name__ for n in lengths][:5]}. "
                "Fix: pass a list of ints or an integer tensor."
            )
        lengths = torch.tensor(list(lengths), dtype=torch.int64)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(
            f"lengths: expected an integer tensor, got {lengths.dtype}. Fix: lengths.long()."
        )
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"lengths: expected shape ({batch},), one per sequence of the batch, got "
            f"{tuple(lengths.shape)}. Fix: pass one length per row of the input."
        )
    lengths = lengths.to(device=device, dtype=torch.int64)
    if batch:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0 or hi > max_len:
            bad = int(torch.nonzero((lengths < 0) | (lengths > max_len))[0, 0])
            raise ValueError(
                f"lengths: expected every length in [0, T={max_len}] (T, the padded time "
                f"axis), got {int(lengths[bad])} at row {bad}. Fix: pad the input to the "
                "longest sequence, or correct that length."
            )
    return lengths
