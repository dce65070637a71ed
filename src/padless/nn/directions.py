"""One direction of one recurrent layer through torch's own fused kernels, exact on a
right-padded batch: the engine's path wherever padless's fused kernel does not run (an initial
state, a projection, float64, CUDA, no compiler), and the fused kernel's differentiable
recompute (double backward).

Shapes: B batch, T time steps, F input features, H hidden size, P the LSTM's projection size
(H when there is none). A right-padded sequence run from step 0 never sees padding before it
ends, so torch's kernel over the whole batch is exact up to each length: ``h_n`` is read at
``length - 1``; the LSTM's cell state, which the outputs do not show, comes from running the
rows sorted by length in time segments that end at each distinct length. The reverse direction
is the caller's: it reverses each sequence within its length first (and the output back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["State", "Stack", "Weights", "call", "direction"]


@dataclass(frozen=True)
class Stack:
    """What a stack of recurrent layers is, independent of its weights."""

    mode: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    dropout: float = 0.0
    proj_size: int = 0

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        """P: the size of h (the projection's, when the LSTM has one)."""
        return self.proj_size or self.hidden_size


@dataclass(frozen=True)
class Weights:
    """One layer and direction's weights, by role (torch's flat order is w_ih, w_hh, [b_ih,
    b_hh], [w_hr])."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    w_hr: Tensor | None

    @classmethod
    def of(cls, ws: Sequence[Tensor], stack: Stack) -> Weights:
        ws = list(ws)
        w_hr = ws.pop() if stack.proj_size else None
        b_ih, b_hh = (ws[2], ws[3]) if stack.bias else (None, None)
        return cls(ws[0], ws[1], b_ih, b_hh, w_hr)

    def flat(self) -> list[Tensor]:
        """torch's per-layer order, for ``torch.lstm`` / ``gru`` / ``rnn_*``."""
        out = [self.w_ih, self.w_hh]
        if self.b_ih is not None and self.b_hh is not None:
            out += [self.b_ih, self.b_hh]
        return out + ([self.w_hr] if self.w_hr is not None else [])

    def with_biases(self) -> list[Tensor]:
        """(w_ih, w_hh, b_ih, b_hh) for the fused kernel, zeros standing in for no bias."""
        if self.b_ih is not None and self.b_hh is not None:
            return [self.w_ih, self.w_hh, self.b_ih, self.b_hh]
        zeros = self.w_ih.new_zeros(self.w_ih.shape[0])
        return [self.w_ih, self.w_hh, zeros, zeros]


State = tuple[Tensor, Tensor | None]  # (h, c): c is the LSTM's cell state, None otherwise


def call(
    stack: Stack, x: Tensor, w: Weights, h0: Tensor, c0: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """torch's fused kernel of the cell over (B, T, F) from (B, P) / (B, H) states: out
    (B, T, P), the last step's h (B, P) and the LSTM's c (B, H) or None."""
    common = (stack.bias, 1, 0.0, False, False, True)  # one layer, no dropout, batch_first
    if stack.mode == "LSTM":
        assert c0 is not None
        out, h, c = torch.lstm(x, (h0[None], c0[None]), w.flat(), *common)
        return out, h[0], c[0]
    fn = {"GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}[stack.mode]
    out, h = fn(x, h0[None], w.flat(), *common)
    return out, h[0], None


def direction(
    stack: Stack,
    x: Tensor,
    lengths: Tensor,
    w: Weights,
    h0: Tensor | None,
    c0: Tensor | None,
    need_state: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction over right-padded (B, T, F) → (B, T, P), h_n (B, P), c_n (B, H) or None."""
    b, t = x.shape[:2]
    h0 = h0 if h0 is not None else x.new_zeros(b, stack.out_size)
    lstm = stack.mode == "LSTM"
    if lstm and c0 is None:
        c0 = x.new_zeros(b, stack.hidden_size)
    rows = torch.arange(b, device=x.device)
    if not (lstm and need_state) or bool((lengths == t).all()):
        out, h_last, c_last = call(stack, x, w, h0, c0)
        h_n = h_last if bool((lengths == t).all()) else out[rows, lengths - 1]
        return out, h_n, c_last
    # The LSTM's cell state at each row's own end: rows sorted by length (descending), time cut
    # into segments that end at each distinct length; finished rows drop out.
    assert c0 is not None
    order = torch.argsort(lengths, descending=True, stable=True)
    sorted_len = lengths[order].tolist()
    xs, h, c = x[order], h0[order], c0[order]
    pieces: list[Tensor] = []
    ended: list[Tensor] = []  # c of the rows ending at each segment, shortest rows first
    start, alive = 0, b
    for end in sorted(set(sorted_len)):
        seg, h_end, c_end = call(stack, xs[:alive, start:end], w, h, c)
        assert c_end is not None
        pieces.append(F.pad(seg, (0, 0, 0, 0, 0, b - alive)))
        still = sum(1 for n in sorted_len[:alive] if n > end)
        ended.append(c_end[still:alive])
        h, c, start, alive = h_end[:still], c_end[:still], end, still
    inverse = torch.argsort(order)
    out = torch.cat(pieces, dim=1)[inverse]  # (B, T, P) in the caller's row order
    return out, out[rows, lengths - 1], torch.cat(ended[::-1])[inverse]
