"""Recurrent models over right-padded batches that give exactly what a per-sequence loop gives.

Shapes (used in every docstring here): B batch, T padded time, I input features, E embedding
size, H hidden size, D directions (1 or 2), L layers, C outputs. Every model takes
``forward(inputs, lengths)``: ``inputs`` (B, T) int64 token ids or (B, T, I) float features,
right-padded by :func:`padless.batching.collate`; ``lengths`` (B,) int64, each in [1, T].

Why the ``padded`` path is exact:

* forward direction: a right-padded sequence is processed from step 0, so steps ``t < length``
  never see padding; later steps are zeroed;
* reverse direction: each sequence is reversed *within its own length* (padding stays at the
  end), run forward, and reversed back, so it too starts at its own last real step;
* final states are read at each sequence's own last real step: ``h`` from the outputs, and the
  LSTM cell state ``c`` by running the batch (sorted by length) in time segments that end at each
  distinct length, carrying the state, so ``c`` is returned exactly where a sequence ends;
* pooling only reads real steps (masked mean / max / attention, or the final states).

Execution paths of :class:`RecurrentEncoder` (same parameters, same results within fp32
rounding): ``padded`` (fused kernels per layer: for float32 CPU LSTMs the C++ kernel of
:mod:`padless.kernels` when it is built, which runs both directions without gathers and skips
padding; otherwise ``torch.lstm`` / ``gru`` / ``rnn`` per direction), ``packed``
(``PackedSequence`` through torch's fused kernels), ``reference`` (the
explicit time × layer loop over the weight matrices: the test oracle) and ``auto``.
``auto`` = ``padded`` on every device and in both training and inference: measured on a
2-core CPU (BENCHMARKS.md, ``benchmarks/train_throughput.py --all``), padded trains a BiLSTM
~35x faster than packed (GRU ~12x, through torch's kernels) and runs inference ~2x faster.
On CUDA it is the same choice, unmeasured here for lack of a GPU.
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
