"""The convolutional front end: local patterns of the embedded steps, exact on ragged batches.

Shapes: B batch, T time steps (padded length), E embedding size; the output has ``channels``
features per step (what the encoder then reads as F). :class:`ConvFrontEnd` stacks
'same'-length 1-D convolutions between the classifier's embedding and its recurrent encoder
(``conv_channels > 0``), useful on long raw signals. Padded steps are zeroed before every
convolution, so a real step near its sequence's end sees zeros past it, as it would alone; the
outputs at real steps do not depend on the batch or on the amount of padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from padless.nn.lengths import lengths_mask


class ConvFrontEnd(nn.Module):
    """``layers`` x (Conv1d 'same', kernel k → ReLU) over (B, T, E) → (B, T, channels),
    padding-exact.

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
        return (y * real).transpose(1, 2)  # (B, T, channels), zero at padded steps
