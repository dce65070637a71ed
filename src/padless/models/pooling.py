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
from torch import Tensor, nn

from padless.models.lengths import lengths_mask
from padless.models.names import POOLINGS


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
        self.score = nn.Linear(size, 1) if kind == "attention" else None

    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        lengths = lengths.to(outputs.device)
        mask = lengths_mask(lengths, outputs.shape[1])[..., None]  # (B, T, 1)
        if self.kind == "mean":
            return outputs.sum(1) / lengths[:, None].to(outputs.dtype)
        if self.kind == "max":
            return outputs.masked_fill(~mask, float("-inf")).amax(1)
        if self.kind == "attention":
            scores = self.score(outputs).masked_fill(~mask, float("-inf"))  # (B, T, 1)
            return (torch.softmax(scores, dim=1) * outputs).sum(1)
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        last = outputs[rows, lengths - 1]  # (B, D*H)
        if self.num_directions == 1:
            return last
        h = outputs.shape[-1] // 2
        return torch.cat([last[:, :h], outputs[:, 0, h:]], dim=-1)
