"""The recurrent encoder over right-padded batches, exactly what a per-sequence loop gives.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2), L layers. :class:`RecurrentEncoder` takes ``forward(x, lengths)``:
``x`` (B, T, F) float features (token ids are embedded by the classifier first), right-padded
by :func:`padless.batching.batch`; ``lengths`` (B,) int64, each in [1, T].

Why the ``padded`` path is exact:

* forward direction: a right-padded sequence is processed from step 0, so steps ``t < length``
  never see padding; later steps are zeroed;
* reverse direction: each sequence is reversed *within its own length* (padding stays at the
  end), run forward, and reversed back, so it too starts at its own last real step;
* final states are read at each sequence's own last real step: ``h`` from the outputs, and the
  LSTM cell state ``c`` by running the batch (sorted by length) in time segments that end at each
  distinct length, carrying the state, so ``c`` is returned exactly where a sequence ends;
* pooling (:mod:`padless.models.pooling`) only reads real steps (masked mean / max /
  attention, or the final states).

Execution paths of :class:`RecurrentEncoder` (same parameters, same results within fp32
rounding): ``padded`` (fused kernels per layer: for float32 CPU LSTMs the C++ kernel of
:mod:`padless.nn.kernels` when it is built, which runs both directions without gathers and
skips padding; otherwise ``torch.lstm`` / ``gru`` / ``rnn`` per direction), ``packed``
(``PackedSequence`` through torch's fused kernels), ``reference`` (the
explicit time × layer loop over the weight matrices: the test oracle) and ``auto``.
``auto`` = ``padded`` on every device and in both training and inference: measured on a
2-core CPU (BENCHMARKS.md, ``benchmarks/train_throughput.py --all``), padded trains a BiLSTM
~35x faster than packed (GRU ~12x, through torch's kernels) and runs inference ~2x faster.
On CUDA it is the same choice, unmeasured here for lack of a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from padless.models.names import CELLS, EXECUTIONS, GATES, NONLINEARITIES
from padless.nn import kernels
from padless.nn.lengths import check_lengths, lengths_mask, reverse_within_length

State = Tensor | tuple[Tensor, Tensor]  # h_n, or (h_n, c_n) for the LSTM


def _cell_step(
    cell: str, relu: bool, x_t: Tensor, h: Tensor, c: Tensor | None, w: list[Tensor]
) -> tuple[Tensor, Tensor | None]:
    """One step of the textbook equations (the reference path)."""
    w_ih, w_hh, b_ih, b_hh = w
    gi = x_t @ w_ih.t() + b_ih
    gh = h @ w_hh.t() + b_hh
    if cell == "lstm":
        assert c is not None  # the reference loop always carries an LSTM's cell state
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new
    if cell == "gru":
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (torch.relu(pre) if relu else torch.tanh(pre)), None


class RecurrentEncoder(nn.Module):
    """Stacked, optionally bidirectional LSTM / GRU / RNN over right-padded batches.

    ``forward(x (B, T, F), lengths (B,)) -> (outputs (B, T, D*H), state)``: outputs are zero at
    padded steps; ``state`` has ``nn.LSTM``'s form, ``(h_n, c_n)`` for LSTM and ``h_n``
    otherwise, each (L*D, B, H), holding each sequence's state at its own last real step
    (forward) and after its first step (reverse). Parameter names and shapes are those of
    ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``, so state dicts load both ways.
    """

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
        execution: str = "auto",
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell: expected one of {CELLS}, got {cell!r}")
        if execution not in EXECUTIONS:
            raise ValueError(f"execution: expected one of {EXECUTIONS}, got {execution!r}")
        if nonlinearity not in NONLINEARITIES or (nonlinearity == "relu" and cell != "rnn"):
            raise ValueError(
                f"nonlinearity: expected 'tanh' (or 'relu' for cell='rnn'), got "
                f"{nonlinearity!r} with cell={cell!r}"
            )
        if num_layers < 1 or hidden_size < 1 or input_size < 1:
            raise ValueError("input_size, hidden_size and num_layers must be ≥ 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.cell, self.input_size, self.hidden_size = cell, input_size, hidden_size
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.nonlinearity, self.execution = nonlinearity, execution
        self.num_directions = 2 if bidirectional else 1
        self.use_kernel = True
        gate = GATES[cell] * hidden_size
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias_ih{sfx}", f"bias_hh{sfx}"]
                shapes = [(gate, in_size), (gate, hidden_size), (gate,), (gate,)]
                for name, shape in zip(names, shapes, strict=True):
                    self.register_parameter(name, nn.Parameter(torch.empty(shape)))
                self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTM``'s initialisation: U(-1/√H, 1/√H) for every weight and bias."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def extra_repr(self) -> str:
        return (
            f"{self.cell}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
            f", bidirectional={self.bidirectional}, dropout={self.dropout}, "
            f"execution={self.execution!r}"
        )

    def direction_weights(self, layer: int, direction: int) -> list[Tensor]:
        """``[w_ih, w_hh, b_ih, b_hh]`` of one layer and direction (1 = reverse); the exports
        rebuild each recurrent layer from them."""
        names = self._weight_names[layer * self.num_directions + direction]
        return [getattr(self, n) for n in names]

    def flat_weights(self) -> list[Tensor]:
        """Weights in ``nn.LSTM._flat_weights`` order (layer-major, then direction)."""
        return [getattr(self, n) for names in self._weight_names for n in names]

    @property
    def resolved_execution(self) -> str:
        return "padded" if self.execution == "auto" else self.execution

    # -- forward ---------------------------------------------------------------------------
    def forward(
        self, x: Tensor, lengths: Tensor, return_state: bool = True
    ) -> tuple[Tensor, State | None]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"x: expected (B, T, {self.input_size}) features, got "
                f"{tuple(x.shape)}. Fix: embed token ids first, or set input_size."
            )
        lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        path = self.resolved_execution
        state: State | None
        if path == "packed":
            out, state = self._forward_packed(x, lengths)
        else:
            out, state = self._forward_layers(x, lengths, path == "reference", return_state)
        return out, (state if return_state else None)

    def _forward_layers(
        self, x: Tensor, lengths: Tensor, reference: bool, need_state: bool
    ) -> tuple[Tensor, State | None]:
        t_full = x.shape[1]
        t_max = int(lengths.max())
        x = x[:, :t_max]  # steps past the longest sequence are pure padding: never computed
        mask = lengths_mask(lengths.to(x.device), t_max)[..., None]  # (B, T, 1)
        need_c = need_state and self.cell == "lstm"
        hs: list[Tensor] = []  # h_n of every layer and direction
        cs: list[Tensor] = []  # c_n of every layer and direction (LSTM with need_state only)
        use_kernel = not reference and self._kernel_ok(x)
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
            if use_kernel:  # both directions in one fused C++ call, exact, no padding compute
                weights = [self.direction_weights(layer, d) for d in range(self.num_directions)]
                rev = [d == 1 for d in range(self.num_directions)]
                x, h_n, c_n = kernels.lstm_layers_fused(x, lengths, weights, rev)  # (B, T, D*H)
                hs.extend(h_n.unbind(0))
                cs.extend(c_n.unbind(0))
                continue
            outs = []
            for direction in range(self.num_directions):
                w = self.direction_weights(layer, direction)
                inp = x if direction == 0 else reverse_within_length(x, lengths)
                if reference:
                    out, h, c = self._loop(inp, lengths, w)
                else:
                    out, h, c = self._fused(inp, lengths, w, need_c)
                if direction == 1:
                    out = reverse_within_length(out, lengths)
                outs.append(out)
                hs.append(h)
                if c is not None:
                    cs.append(c)
            x = torch.cat(outs, dim=-1) * mask  # (B, T, D*H), zero at padding
        if t_full > t_max:
            x = F.pad(x, (0, 0, 0, t_full - t_max))
        if not need_state:
            return x, None
        h_n = torch.stack(hs)  # (L*D, B, H)
        return x, ((h_n, torch.stack(cs)) if self.cell == "lstm" else h_n)

    def _kernel_ok(self, x: Tensor) -> bool:
        """The fused C++ LSTM (:mod:`padless.nn.kernels`) runs float32 CPU LSTMs when it is
        built and ``use_kernel`` is on (exports switch it off to trace plain torch ops)."""
        return (
            self.use_kernel
            and self.cell == "lstm"
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and kernels.available()
        )

    def _lstm_kernel(
        self, x: Tensor, h0: Tensor, c0: Tensor, w: list[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """torch's fused LSTM over (B, T, F) from (h0, c0), each (1, B, H): out (B, T, H),
        h_n and c_n (B, H)."""
        out, h, c = torch.lstm(x, (h0, c0), w, True, 1, 0.0, self.training, False, True)
        return out, h[0], c[0]

    def _call_kernel(
        self, x: Tensor, h0: Tensor, w: list[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """torch's fused kernel of the cell from a zero state h0 (1, B, H) (the LSTM's c0 too):
        out (B, T, H), h_n (B, H) and the LSTM's c_n (B, H) or None."""
        if self.cell == "lstm":
            return self._lstm_kernel(x, h0, h0, w)
        fn = (
            torch.gru
            if self.cell == "gru"
            else (torch.rnn_relu if self.nonlinearity == "relu" else torch.rnn_tanh)
        )
        out, h = fn(x, h0, w, True, 1, 0.0, self.training, False, True)
        return out, h[0], None

    def _fused(
        self, x: Tensor, lengths: Tensor, w: list[Tensor], need_c: bool
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """One direction of one layer over right-padded (B, T, F) → (B, T, H), h_n, c_n."""
        b, t = x.shape[:2]
        h0 = x.new_zeros(1, b, self.hidden_size)
        rows = torch.arange(b, device=x.device)
        last = (lengths - 1).to(x.device)
        if not need_c or bool((lengths == t).all()):
            out, _, c_n = self._call_kernel(x, h0, w)
            return out, out[rows, last], c_n if need_c else None
        # LSTM cell state at each sequence's own end: rows sorted by length (descending), time
        # cut into segments that end at each distinct length; finished rows drop out.
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_len = lengths[order].tolist()
        xs = x[order.to(x.device)]
        h, c = h0, h0.clone()
        pieces: list[Tensor] = []
        ended: list[Tensor] = []  # c of the rows ending at each segment, shortest rows first
        start, alive = 0, b
        for end in sorted(set(sorted_len)):
            seg, h_end, c_end = self._lstm_kernel(xs[:alive, start:end], h, c, w)
            pieces.append(F.pad(seg, (0, 0, 0, 0, 0, b - alive)))
            still = sum(1 for n in sorted_len[:alive] if n > end)
            ended.append(c_end[still:alive])
            h, c, start, alive = h_end[None, :still], c_end[None, :still], end, still
        out_sorted = torch.cat(pieces, dim=1)  # (B, T, H) in sorted row order
        c_sorted = torch.cat(ended[::-1])  # (B, H) in sorted row order
        inverse = torch.argsort(order).to(x.device)
        out = out_sorted[inverse]
        return out, out[rows, last], c_sorted[inverse]

    def _loop(
        self, x: Tensor, lengths: Tensor, w: list[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The oracle: an explicit loop over time; the state only advances at real steps."""
        b, t = x.shape[:2]
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size) if self.cell == "lstm" else None
        real = lengths_mask(lengths.to(x.device), t)  # (B, T)
        outs = []
        for step in range(t):
            h_new, c_new = _cell_step(self.cell, self.nonlinearity == "relu", x[:, step], h, c, w)
            m = real[:, step, None]
            h = torch.where(m, h_new, h)
            if c is not None and c_new is not None:
                c = torch.where(m, c_new, c)
            outs.append(torch.where(m, h_new, torch.zeros_like(h_new)))
        return torch.stack(outs, dim=1), h, c

    def _forward_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, State]:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        shape = (self.num_layers * self.num_directions, x.shape[0], self.hidden_size)
        h0 = x.new_zeros(shape)
        flat = self.flat_weights()
        data, sizes = packed.data, packed.batch_sizes
        common = (True, self.num_layers, self.dropout, self.training, self.bidirectional)
        c: Tensor | None = None
        if self.cell == "lstm":
            hc = (h0, h0.clone())
            data, h, c = torch.lstm(data, sizes, hc, flat, *common)
        else:
            fn: Callable[..., tuple[Tensor, Tensor]] = (
                torch.gru
                if self.cell == "gru"
                else (torch.rnn_relu if self.nonlinearity == "relu" else torch.rnn_tanh)
            )
            data, h = fn(data, sizes, h0, flat, *common)
        out_packed = PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=x.shape[1])
        unsort = packed.unsorted_indices
        assert unsort is not None  # enforce_sorted=False always records the original order
        h = h.index_select(1, unsort)
        return out, ((h, c.index_select(1, unsort)) if c is not None else h)
