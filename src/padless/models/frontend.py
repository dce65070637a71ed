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


class ConvFrontEnd(nn.Module):
    """``layers`` x (Conv1d 'same', kernel k → ReLU) over (B, T, E) → (B, T, C), padding-exact.

    Padded steps are zeroed before every convolution, so a real step near a sequence's end sees
    zeros past it, exactly as the sequence alone with the conv's own zero padding would: the
    output at real steps does not depend on the batch or the amount of padding. For long raw
    signals it learns local shapes (one waveform period) before the recurrent encoder.
    """

    def __init__(self, in_size: int, channels: int, kernel: int, layers: int = 1):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"conv_kernel: expected an odd size >= 1 (same length), got {kernel}")
        self.convs = nn.ModuleList(
            nn.Conv1d(in_size if i == 0 else channels, channels, kernel, padding=kernel // 2)
            for i in range(layers)
        )
        self.output_size = channels

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        real = lengths_mask(lengths.to(x.device), x.shape[1])[:, None, :]  # (B, 1, T)
        y = x.transpose(1, 2)  # (B, E, T)
        for conv in self.convs:
            y = torch.relu(conv(y * real))
        return (y * real).transpose(1, 2)  # (B, T, C), zero at padded steps
