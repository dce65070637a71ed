"""Drop-in ``torch.nn.LSTM`` / ``GRU`` / ``RNN``: same constructor, parameters, state dict and
call, computed by padless's exact engine (:mod:`padless.nn.engine`).

Shapes: B batch, T time steps, F input features (``input_size``), H ``hidden_size``, P the
LSTM's ``proj_size`` (H when 0), D directions, L ``num_layers``.

Each layer *is* its ``torch.nn`` namesake (a subclass): the constructor, argument checks,
parameters (``weight_ih_l0``, ..., ``weight_hr_l0``), ``state_dict``, ``flatten_parameters``
and ``extra_repr`` are torch's, so ``load_state_dict`` works both ways and
``isinstance(layer, torch.nn.LSTM)`` holds. ``forward`` takes what torch's takes, returns the
same types and shapes, and adds one keyword:

* ``layer(packed, hx)`` → ``(PackedSequence, h_n)``: the same packing as the input;
* ``layer(x, hx)`` with ``x`` (T, B, F), or (B, T, F) with ``batch_first``, or unbatched
  (T, F): every row is T steps long, as in torch;
* ``layer(x, hx, lengths=lengths)``: right-padded ``x`` with (B,) lengths (a tensor, list or
  tuple of ints, any integer dtype and device, each in [0, T]); outputs are zero past each
  length and ``h_n`` / ``c_n`` are taken at each sequence's own end: what
  ``pack_padded_sequence`` → torch's layer → ``pad_packed_sequence`` gives, without packing.
  A length of 0 gives zero outputs and the initial state back.

``hx`` is ``h0`` (L*D, B, P) (``(h0, c0)`` for the LSTM, ``c0`` (L*D, B, H)), in the caller's
row order, as in torch. The numbers equal torch's run one sequence at a time (float rounding
aside; ``tests/nn/test_layers.py`` holds every case to PyTorch's own tolerances).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from padless.nn.directions import Stack
from padless.nn.engine import run
from padless.nn.lengths import as_lengths
from padless.nn.packing import packing_index, scatter

__all__ = ["GRU", "LSTM", "RNN"]

Hidden = Tensor | tuple[Tensor, Tensor]


class _Exact:
    """The forward shared by the three layers (mixed into torch's classes)."""

    # set by torch's RNNBase.__init__
    mode: str
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    batch_first: bool
    dropout: float
    proj_size: int
    training: bool
    _all_weights: list[list[str]]
    #: False runs torch's own kernels per direction instead of padless's fused ones (exports).
    use_kernel: bool = True

    def _stack(self) -> Stack:
        return Stack(
            self.mode, self.hidden_size, self.num_layers, self.bidirectional, self.bias,
            self.dropout, self.proj_size,
        )  # fmt: skip

    def _weights(self) -> list[list[Tensor]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def forward(
        self,
        input: Tensor | PackedSequence,  # noqa: A002 - torch's own argument name
        hx: Hidden | None = None,
        *,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Hidden]:
        _refuse_lengths_as_hx(hx)
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    "lengths: expected None with a PackedSequence (it carries its own lengths), "
                    "got lengths too. Fix: pass one of them."
                )
            return self._packed(input, hx)
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: expected input of 2 (T, F) or 3 dimensions, got "
                f"{input.dim()}D. Fix: batch your sequences into (B, T, F) or (T, B, F)."
            )
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(0 if self.batch_first else 1)
        x = x if self.batch_first else x.transpose(0, 1)  # (B, T, F)
        hx = _batched_hx(hx, batched)
        n = as_lengths(lengths, x.shape[0], x.shape[1], x.device)
        out, hidden = self._run(x, n, hx)
        out = out if self.batch_first else out.transpose(0, 1)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            hidden = _unbatched(hidden)
        return out, hidden

    def _packed(self, packed: PackedSequence, hx: Hidden | None) -> tuple[PackedSequence, Hidden]:
        """Scatter the packed steps into a padded batch (rows in the caller's order), run it,
        gather the output steps back in the input's packing."""
        flat, lengths, batch, steps = packing_index(packed)  # once, for both directions
        x = scatter(packed.data, flat, (batch, steps))
        out, hidden = self._run(x, lengths, _batched_hx(hx, True))
        out_data = out.reshape(batch * steps, -1).index_select(0, flat)
        return (
            PackedSequence(
                out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            ),
            hidden,
        )

    def _run(self, x: Tensor, lengths: Tensor, hx: Hidden | None) -> tuple[Tensor, Hidden]:
        """(B, T, F) with (B,) lengths → out (B, T, D*P) and torch's state form."""
        first = None
        if hx is not None:
            h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
            layout = x if self.batch_first else x.transpose(0, 1)
            self.check_forward_args(layout, hx, None)  # type: ignore[attr-defined]
            first = (h0, c0)
        else:
            self.check_input(x, None)  # type: ignore[attr-defined]
        out, h_n, c_n = run(
            self._stack(), x, lengths, self._weights(), first,
            training=self.training, use_kernel=self.use_kernel,
        )  # fmt: skip
        assert h_n is not None
        if self.mode == "LSTM":
            assert c_n is not None
            return out, (h_n, c_n)
        return out, h_n


def _refuse_lengths_as_hx(hx: Any) -> None:
    """``layer(x, lengths)`` (padless's older encoder call) would read lengths as ``hx``."""
    looks_like_lengths = isinstance(hx, (list, tuple)) and hx and isinstance(hx[0], int)
    if isinstance(hx, Tensor) and not hx.is_floating_point():
        looks_like_lengths = True
    if looks_like_lengths:
        raise TypeError(
            "hx: expected the initial state (float tensors), got integers. Fix: pass lengths "
            "by keyword, layer(x, lengths=lengths), as the second positional argument is hx "
            "(torch.nn's initial state)."
        )


def _batched_hx(hx: Hidden | None, batched: bool) -> Hidden | None:
    """Check hx's rank against the input's, as torch does; unbatched states gain B = 1."""
    if hx is None:
        return None
    parts = hx if isinstance(hx, tuple) else (hx,)
    want = 3 if batched else 2
    if any(p.dim() != want for p in parts):
        got = ", ".join(f"{p.dim()}-D" for p in parts)
        raise RuntimeError(
            f"hx: expected {want}-D state tensors for {want + 1}-D input (batched="
            f"{batched}), got {got}. Fix: shape each as (num_layers * num_directions, B, size)."
        )
    if batched:
        return hx
    if isinstance(hx, tuple):
        return hx[0].unsqueeze(1), hx[1].unsqueeze(1)
    return hx.unsqueeze(1)


def _unbatched(hidden: Hidden) -> Hidden:
    if isinstance(hidden, tuple):
        return hidden[0].squeeze(1), hidden[1].squeeze(1)
    return hidden.squeeze(1)


class LSTM(_Exact, nn.LSTM):
    """``torch.nn.LSTM``, exact on ragged batches and fast (see the module docstring)."""

    def forward(self, input, hx=None, *, lengths=None):  # noqa: A002
        return _Exact.forward(self, input, hx, lengths=lengths)


class GRU(_Exact, nn.GRU):
    """``torch.nn.GRU``, exact on ragged batches and fast (see the module docstring)."""

    def forward(self, input, hx=None, *, lengths=None):  # noqa: A002
        return _Exact.forward(self, input, hx, lengths=lengths)


class RNN(_Exact, nn.RNN):
    """``torch.nn.RNN`` (``nonlinearity`` tanh or relu), exact on ragged batches and fast."""

    def forward(self, input, hx=None, *, lengths=None):  # noqa: A002
        return _Exact.forward(self, input, hx, lengths=lengths)
