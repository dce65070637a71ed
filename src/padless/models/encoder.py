"""The recurrent encoder of padless's models: a stack of exact recurrent layers over right-padded
batches, what a per-sequence loop gives.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2), L layers. :class:`RecurrentEncoder` takes ``forward(x, lengths)``:
``x`` (B, T, F) float features (token ids are embedded by the classifier first), right-padded
by :func:`padless.batching.batch`; ``lengths`` (B,) int64, each in [0, T] (a length-0 row gives
zero outputs and a zero final state).

It runs on the engine of :mod:`padless.nn`'s drop-in layers (:func:`padless.nn.engine.run`,
which says why padded execution is exact): one engine under every model, export and layer. It
holds its weights under ``torch.nn``'s names, so ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` state dicts
load both ways, and it adds what the models need on top: a cell name from the config, the
execution path, and skipping the final states when the pooling does not read them.

Execution paths (same parameters, same results within fp32 rounding): ``padded`` (the engine:
padless's fused C++ kernels for float32 CPU layers when they are built, otherwise torch's
fused kernels per direction), ``packed`` (``PackedSequence`` through torch's fused kernels, the
tutorial's way, kept for comparison), ``reference`` (the engine's explicit time x layer loop:
the test oracle) and ``auto`` = ``padded`` on every device, in training and inference: measured
on a 2-core CPU (BENCHMARKS.md, ``benchmarks/train_throughput.py --all``), padded trains a
BiLSTM ~35x faster than packed and runs inference ~2x faster. On CUDA it is the same choice,
unmeasured here for lack of a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from padless.models.names import CELLS, EXECUTIONS, GATES, NONLINEARITIES
from padless.nn import engine
from padless.nn.directions import Stack
from padless.nn.lengths import check_lengths

State = Tensor | tuple[Tensor, Tensor]  # h_n, or (h_n, c_n) for the LSTM


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
        if not 0.0 <= dropout <= 1.0:  # torch.nn's range (1.0 zeroes the upper layers' input)
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout}")
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
        self, x: Tensor, lengths: Tensor, *, return_state: bool = True
    ) -> tuple[Tensor, State | None]:
        """``return_state`` is keyword-only: a third positional argument (an initial state, as
        ``nn.LSTM`` takes) would otherwise be read as a flag and silently ignored; initial
        states belong to :mod:`padless.nn`'s layers."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"x: expected (B, T, {self.input_size}) features, got "
                f"{tuple(x.shape)}. Fix: embed token ids first, or set input_size."
            )
        path = self.resolved_execution
        lengths = check_lengths(lengths, x.shape[0], x.shape[1], min_length=int(path == "packed"))
        state: State | None
        if path == "packed":
            out, state = self._forward_packed(x, lengths)
        else:
            out, state = self._forward_layers(x, lengths, path == "reference", return_state)
        return out, (state if return_state else None)

    @property
    def mode(self) -> str:
        """torch's mode name of the cell (``nn.RNNBase.mode``), the engine's vocabulary."""
        if self.cell == "rnn":
            return "RNN_RELU" if self.nonlinearity == "relu" else "RNN_TANH"
        return self.cell.upper()

    def _forward_layers(
        self, x: Tensor, lengths: Tensor, reference: bool, need_state: bool
    ) -> tuple[Tensor, State | None]:
        """The stack through :func:`padless.nn.engine.run`, the engine of padless.nn's layers."""
        stack = Stack(
            self.mode, self.hidden_size, self.num_layers, self.bidirectional, True, self.dropout
        )
        weights = [self.direction_weights(layer, d) for layer in range(self.num_layers)
                   for d in range(self.num_directions)]  # fmt: skip
        out, h_n, c_n = engine.run(
            stack, x, lengths, weights, training=self.training, need_state=need_state,
            use_kernel=self.use_kernel, reference=reference,
        )  # fmt: skip
        if not need_state:
            return out, None
        assert h_n is not None
        return out, ((h_n, c_n) if c_n is not None else h_n)

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
