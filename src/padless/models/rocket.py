"""A MiniRocket-style transform and linear layer, on right-padded variable-length batches.

Shapes: B sequences, T steps (the longest in the batch; each row has its own real length),
F input features, N transform features, K outputs. :class:`RocketLinear` maps inputs
(B, T, F) float32 and lengths (B,) int64 to scores (B, K) float32.

Why a torch module: a MiniRocket path that is saved, exported to ONNX and served like any
padless model, computing on each sequence's real steps only, with no need to pad or resample
to one length (what aeon's MiniRocket requires). :mod:`padless.evaluation.rocket` fits it.

The transform (after Dempster et al., MiniRocket, 2021): 84 kernels of length 9, weight -1
everywhere and +2 at 3 of the 9 positions (all C(9, 3) choices), each applied at every
dilation d of ``dilations``. Per (dilation, kernel) combination a fixed subset of the F inputs
is summed first (``channel_mask``, (F, D*84) 0/1, multivariate MiniRocket). Combination
``(dilation index + kernel index)`` even uses "same" zero padding: padded batch steps read as
zero and the T_i real output positions count; odd uses no padding: only the T_i - 8d positions
whose whole window lies in the real steps count. Each combination has ``features_per_dilation``
biases; a feature is the proportion of counted positions whose convolution output exceeds
its bias (PPV; 0 when a row counts none). Then ``(features - mean) / std`` and a linear layer.
With ``min_length`` L > 0 a row shorter than L reads as zero-padded to L steps (aeon's
``pad_zero``, exactly, for rows up to L long; longer rows are still taken whole).

Exactness: every step before the PPV sums is elementwise, in a fixed order, and the PPV counts
are integers (float32 sums of 0/1, exact to 2^24 steps), so the N features of a row are
bitwise independent of the batch's other rows and of extra right padding; only the final
matrix product may round differently with the batch size (float32 ulps). Memory: the
comparison with biases holds (B, 84, n_d, T) values for one dilation at a time. (No
``from __future__ import annotations``: TorchScript reads the buffer annotations.)

A saved model needs, in its config, :meth:`RocketLinear.config` (``num_features_in``,
``dilations``, ``features_per_dilation``, ``num_outputs``, ``min_length``: plain ints and
lists); the state_dict holds ``channel_mask``, ``biases``, ``mean``, ``std`` and ``linear.*``.
"""

from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from padless.errors import data_error

__all__ = ["KERNEL_LENGTH", "NUM_KERNELS", "RocketLinear", "kernel_weights"]

KERNEL_LENGTH = 9
NUM_KERNELS = 84  # C(9, 3)
_WHERE = "RocketLinear"


def kernel_weights() -> torch.Tensor:
    """The 84 MiniRocket kernels as a (84, 9) float32 tensor of -1 and +2."""
    w = torch.full((NUM_KERNELS, KERNEL_LENGTH), -1.0)
    for k, idx in enumerate(combinations(range(KERNEL_LENGTH), 3)):
        w[k, list(idx)] = 2.0
    return w


class RocketLinear(nn.Module):
    """MiniRocket-style PPV features of right-padded sequences, standardised, then linear.

    Built with zero buffers (shapes from the four config values) that ``load_state_dict``
    or :mod:`padless.evaluation.rocket` fills; see the module doc.
    """

    channel_mask: torch.Tensor  # (F, D*84) 0/1: the inputs each combination sums
    biases: torch.Tensor  # (N,)
    mean: torch.Tensor  # (N,)
    std: torch.Tensor  # (N,)
    weights: torch.Tensor  # (84, 9), not saved
    same: torch.Tensor  # (D, 84) bool: "same" padding, else none; not saved

    def __init__(
        self,
        num_features_in: int,
        dilations: list[int],
        features_per_dilation: list[int],
        num_outputs: int,
        min_length: int = 0,
    ) -> None:
        super().__init__()
        if (
            num_features_in < 1
            or num_outputs < 1
            or not dilations
            or len(dilations) != len(features_per_dilation)
            or min(dilations) < 1
            or min(features_per_dilation) < 1
            or min_length < 0
        ):
            raise data_error(
                _WHERE,
                "num_features_in, num_outputs >= 1 and as many dilations as "
                "features_per_dilation, all >= 1; min_length >= 0",
                f"{num_features_in}, {num_outputs}, {dilations}, {features_per_dilation}, "
                f"{min_length}",
            )
        self.num_features_in = int(num_features_in)
        self.dilations: list[int] = [int(d) for d in dilations]
        self.features_per_dilation: list[int] = [int(n) for n in features_per_dilation]
        self.num_outputs = int(num_outputs)
        self.min_length = int(min_length)
        self.num_kernels = NUM_KERNELS  # attributes, so that TorchScript sees the constants
        self.kernel_length = KERNEL_LENGTH
        n_comb = NUM_KERNELS * len(self.dilations)
        n_feat = NUM_KERNELS * sum(self.features_per_dilation)
        self.num_transform_features = n_feat
        self.register_buffer("channel_mask", torch.zeros(num_features_in, n_comb))
        self.register_buffer("biases", torch.zeros(n_feat))
        self.register_buffer("mean", torch.zeros(n_feat))
        self.register_buffer("std", torch.ones(n_feat))
        self.register_buffer("weights", kernel_weights(), persistent=False)
        parity = torch.arange(NUM_KERNELS)
        same = torch.stack([(parity + i) % 2 == 0 for i in range(len(self.dilations))])
        self.register_buffer("same", same, persistent=False)  # (D, 84) bool
        self.linear = nn.Linear(n_feat, num_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def config(self) -> dict[str, Any]:
        """The JSON-able constructor arguments that rebuild this module's shape."""
        return {
            "num_features_in": self.num_features_in,
            "dilations": list(self.dilations),
            "features_per_dilation": list(self.features_per_dilation),
            "num_outputs": self.num_outputs,
            "min_length": self.min_length,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RocketLinear":
        """A zero-initialised module from :meth:`config`'s dict, for ``load_state_dict``."""
        return cls(
            int(config["num_features_in"]),
            [int(d) for d in config["dilations"]],
            [int(n) for n in config["features_per_dilation"]],
            int(config["num_outputs"]),
            int(config.get("min_length", 0)),
        )

    def conv(self, x: torch.Tensor, lengths: torch.Tensor, index: int) -> torch.Tensor:
        """The "same"-padded convolution outputs (B, 84, T) of dilation ``index``; padded
        batch steps read as zero, so output t < T_i depends on row i's real steps only."""
        d = self.dilations[index]
        steps = torch.arange(x.shape[1], device=x.device)
        real = (steps.unsqueeze(0) < lengths.unsqueeze(1)).to(x.dtype)  # (B, T)
        xt = (x * real.unsqueeze(2)).transpose(1, 2)  # (B, F, T)
        mask = self.channel_mask[:, index * self.num_kernels : (index + 1) * self.num_kernels]
        s = torch.zeros(x.shape[0], self.num_kernels, x.shape[1], dtype=x.dtype, device=x.device)
        for f in range(self.num_features_in):  # fixed order: exact whatever B and T
            s = s + mask[f].unsqueeze(1) * xt[:, f : f + 1, :]
        p = F.pad(s, (4 * d, 4 * d))
        width = p.shape[2]
        out = torch.zeros_like(s)
        for j in range(self.kernel_length):
            shifted = p[:, :, j * d : width - (self.kernel_length - 1 - j) * d]
            out = out + self.weights[:, j].unsqueeze(1) * shifted
        return out

    def transform(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The raw PPV features (B, N) of inputs (B, T, F) with real lengths (B,)."""
        lens = lengths.to(torch.int64).view(-1, 1)
        if self.min_length > 0:  # shorter rows read as zero-padded to min_length steps
            x = F.pad(x, (0, 0, 0, self.min_length))
            lens = lens.clamp(min=self.min_length)
        steps = torch.arange(x.shape[1], device=x.device).view(1, 1, -1)
        feats: list[torch.Tensor] = []
        start = 0
        for i in range(len(self.dilations)):
            d = self.dilations[i]
            n = self.features_per_dilation[i]
            c = self.conv(x, lengths, i)  # (B, 84, T)
            same = self.same[i].view(1, -1)
            lo = torch.where(same, 0, 4 * d)  # (1, 84)
            hi = torch.where(same, lens, lens - 4 * d)  # (B, 84)
            counted = (steps >= lo.unsqueeze(2)) & (steps < hi.unsqueeze(2))  # (B, 84, T)
            b = self.biases[start : start + self.num_kernels * n].view(1, self.num_kernels, n, 1)
            c = c.masked_fill(~counted, float("-inf"))  # uncounted positions never exceed
            hits = (c.unsqueeze(2) > b).to(x.dtype).sum(dim=3)  # (B, 84, n, T): exact counts
            count = (hi - lo).clamp(min=1).to(x.dtype).unsqueeze(2)
            feats.append((hits / count).reshape(x.shape[0], self.num_kernels * n))
            start += self.num_kernels * n
        return torch.cat(feats, dim=1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores (B, K) of inputs (B, T, F) float32 with real lengths (B,) int64."""
        z = (self.transform(x, lengths) - self.mean) / self.std
        return self.linear(z)
