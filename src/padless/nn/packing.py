"""Between packed and padded sequences in one index operation each way.

Shapes: B batch, T time steps, N packed steps (the sum of the lengths), ``*`` trailing features.

``torch.nn.utils.rnn.pad_packed_sequence`` copies one time step at a time under autograd, so
its backward copies the whole (T, B, *) gradient once per step: quadratic in T, and it cost
more than a BiLSTM's whole training step on IMDB-length batches (see BENCHMARKS.md, issue 15).
:func:`pad_packed_sequence` here returns the same tensors through one ``index_copy`` (backward:
one ``index_select``); ``padless.nn.utils.rnn`` serves it to code written against
``torch.nn.utils.rnn``, and padless.nn's layers use :func:`packing_index` to run packed input
padded.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

__all__ = ["pack_index", "packing_index", "pad_packed_sequence", "scatter"]


def packing_index(
    packed: PackedSequence, steps: int | None = None, batch_first: bool = True
) -> tuple[Tensor, Tensor, int, int]:
    """Where each packed step sits in a padded batch of ``steps`` (default: the longest) time
    steps: ``flat`` (N,) indices into the flattened (B, T) batch (``row * T + t``) or, with
    ``batch_first=False``, (T, B) batch (``t * B + row``), rows in the caller's order; the (B,)
    lengths (int64, on the data's device), B and T."""
    sizes = packed.batch_sizes.to(torch.int64)  # (T,) rows alive at each step, on the CPU
    t_max, batch, total = sizes.numel(), int(sizes[0]), int(sizes.sum())
    steps = t_max if steps is None else steps
    t_idx = torch.repeat_interleave(torch.arange(t_max), sizes)  # (N,) the step of each
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.arange(total) - torch.repeat_interleave(starts, sizes)  # its sorted row
    device = packed.data.device
    rows = rank.to(device)
    if packed.sorted_indices is not None:
        rows = packed.sorted_indices.index_select(0, rows)
    t_dev = t_idx.to(device)
    flat = rows * steps + t_dev if batch_first else t_dev * batch + rows
    lengths = torch.bincount(rows, minlength=batch)
    return flat, lengths, batch, steps


def scatter(
    data: Tensor, flat: Tensor, shape: tuple[int, int], padding_value: float = 0.0
) -> Tensor:
    """Packed ``data`` (N, *) into a padded batch of ``shape`` ((B, T) or (T, B)) at the
    :func:`packing_index` positions ``flat``; one index op (and one in backward)."""
    padded = data.new_full((shape[0] * shape[1], *data.shape[1:]), padding_value)
    return padded.index_copy(0, flat, data).view(*shape, *data.shape[1:])


def pack_index(packed: PackedSequence, padded: Tensor, batch_first: bool = True) -> Tensor:
    """The packed data of ``padded`` ((B, T, *) or (T, B, *)) in ``packed``'s layout."""
    steps = padded.shape[1] if batch_first else padded.shape[0]
    flat = packing_index(packed, steps, batch_first)[0]
    return padded.reshape(-1, *padded.shape[2:]).index_select(0, flat)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``torch.nn.utils.rnn.pad_packed_sequence``'s result (padded (T, B, *) or (B, T, *), and
    the (B,) int64 CPU lengths in the caller's order), in one index operation."""
    max_len = sequence.batch_sizes.size(0)
    if total_length is not None and total_length < max_len:
        raise ValueError(
            "Expected total_length to be at least the length of the longest sequence in "
            f"input, but got total_length={total_length} and max sequence length being "
            f"{max_len}"
        )
    steps = max_len if total_length is None else total_length
    flat, lengths, batch, _ = packing_index(sequence, steps, batch_first)
    shape = (batch, steps) if batch_first else (steps, batch)
    return scatter(sequence.data, flat, shape, padding_value), lengths.cpu()
