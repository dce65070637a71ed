"""The exact engine under every recurrent layer: stacked, bidirectional RNN / LSTM / GRU over a
right-padded batch, each sequence computed as if it were alone.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size, P the
LSTM's projection size (``proj_size``; H when there is none), D directions (1 or 2), L layers.

:func:`run` takes ``x`` (B, T, F) with (B,) lengths in [0, T] and returns ``out`` (B, T, D*P),
zero at padded steps, and ``h_n`` (L*D, B, P) plus the LSTM's ``c_n`` (L*D, B, H) at each
sequence's own end. Why it is exact:

* forward direction: a right-padded sequence starts at step 0, so its real steps never see
  padding; outputs past its length are zeroed;
* reverse direction: each sequence is reversed *within its own length*, run forward and
  reversed back, so it starts at its own last real step;
* final states are read where each sequence ends: ``h`` from the outputs at ``length - 1``, the
  LSTM's ``c`` by running rows sorted by length in time segments that end at each distinct
  length (or straight from the fused kernel, which stops each row at its end);
* a zero-length row takes no step: its outputs are zeros and its final state is its initial
  state (zeros without ``hx``), as AllenNLP's encoders return for empty sequences.

Per layer the fastest exact way is chosen in one place (:func:`_layer`): the fused C++ kernel
(:mod:`padless.nn.kernels`: float32 CPU, zero initial state, no projection) when it is built,
otherwise torch's own fused cell kernels (``torch.lstm`` / ``gru`` / ``rnn_*``, cuDNN on CUDA)
per direction; ``reference=True`` runs the explicit time loop of the textbook equations, the
test oracle. Every path is differentiable twice (the fused kernel recomputes through torch's ops
when a graph of the gradient is asked for).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from padless.nn import kernels
from padless.nn.directions import Stack, State, Weights, direction
from padless.nn.lengths import lengths_mask, reverse_within_length

__all__ = ["run"]


def run(
    stack: Stack,
    x: Tensor,
    lengths: Tensor,
    weights: Sequence[Sequence[Tensor]],
    hx: State | None = None,
    *,
    training: bool = False,
    need_state: bool = True,
    use_kernel: bool = True,
    reference: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The stack over ``x`` (B, T, F) with ``lengths`` (B,) int64 on any device, each in [0, T].

    ``weights[layer * D + d]`` holds a layer and direction's tensors in torch's flat order;
    ``hx`` is ``(h0 (L*D, B, P), c0 (L*D, B, H) or None)`` or None for zeros. Returns ``out``
    (B, T, D*P), ``h_n`` (L*D, B, P) and the LSTM's ``c_n`` (L*D, B, H) (both None when
    ``need_state`` is False and no initial state is given).
    """
    b, t = x.shape[:2]
    lengths = lengths.to(device=x.device, dtype=torch.int64)
    if b == 0 or t == 0 or bool((lengths == 0).any()):
        return _with_empty_rows(stack, x, lengths, weights, hx, training, use_kernel, reference)
    t_max = int(lengths.max())
    inp = x[:, :t_max]  # steps past the longest sequence are pure padding: never computed
    need_state = need_state or hx is not None
    hs: list[Tensor] = []
    cs: list[Tensor] = []
    d_count = stack.num_directions
    for layer in range(stack.num_layers):
        if layer > 0 and stack.dropout > 0 and training:
            inp = F.dropout(inp, stack.dropout, True)
        ws = [Weights.of(weights[layer * d_count + d], stack) for d in range(d_count)]
        first = None
        if hx is not None:
            h0, c0 = hx
            rows = slice(layer * d_count, (layer + 1) * d_count)
            first = (h0[rows], c0[rows] if c0 is not None else None)
        inp, h_n, c_n = _layer(stack, inp, lengths, ws, first, need_state, use_kernel, reference)
        if h_n is not None:
            hs.append(h_n)
        if c_n is not None:
            cs.append(c_n)
    out = F.pad(inp, (0, 0, 0, t - t_max)) if t > t_max else inp
    if not need_state:
        return out, None, None
    return out, torch.cat(hs), (torch.cat(cs) if stack.mode == "LSTM" else None)


def _with_empty_rows(
    stack: Stack,
    x: Tensor,
    lengths: Tensor,
    weights: Sequence[Sequence[Tensor]],
    hx: State | None,
    training: bool,
    use_kernel: bool,
    reference: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Rows of length 0 take no step: zero outputs, their initial state as final state. The
    other rows run on their own (an empty batch returns empty tensors of the right shapes)."""
    b, t = x.shape[:2]
    n = stack.num_layers * stack.num_directions
    out = x.new_zeros(b, t, stack.num_directions * stack.out_size)
    h_n = hx[0].clone() if hx is not None else x.new_zeros(n, b, stack.out_size)
    c_n = None
    if stack.mode == "LSTM":
        c0 = hx[1] if hx is not None else None
        c_n = c0.clone() if c0 is not None else x.new_zeros(n, b, stack.hidden_size)
    keep = torch.nonzero(lengths > 0).flatten()
    if keep.numel() == 0:
        return out + 0 * x.sum(), h_n, c_n  # keeps the graph to x (zero gradient, as nn)
    sub_hx = None
    if hx is not None:
        sub_hx = (hx[0][:, keep], hx[1][:, keep] if hx[1] is not None else None)
    sub_out, sub_h, sub_c = run(
        stack, x[keep], lengths[keep], weights, sub_hx, training=training,
        use_kernel=use_kernel, reference=reference,
    )  # fmt: skip
    out = out.index_copy(0, keep, sub_out[:, :t] if t else sub_out)
    assert sub_h is not None
    h_n = h_n.index_copy(1, keep, sub_h)
    if c_n is not None and sub_c is not None:
        c_n = c_n.index_copy(1, keep, sub_c)
    return out, h_n, c_n


def _kernel_ok(stack: Stack, x: Tensor, first: State | None, ws: list[Weights]) -> bool:
    """The fused C++ kernel runs float32 CPU layers from a zero state without projection. Under
    CPU autocast it still runs (in float32, as before padless.nn): torch's own LSTM there goes
    to oneDNN in bfloat16, which fails on CPUs without bf16 support."""
    return (
        first is None
        and stack.proj_size == 0
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and all(w.w_ih.dtype == torch.float32 for w in ws)
        and kernels.supports(stack.mode)
    )


def _layer(
    stack: Stack,
    x: Tensor,
    lengths: Tensor,
    ws: list[Weights],
    first: State | None,
    need_state: bool,
    use_kernel: bool,
    reference: bool,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """One layer, every direction: (B, T, F) → out (B, T, D*P), h_n (D, B, P), c_n (D, B, H)."""
    if use_kernel and not reference and _kernel_ok(stack, x, first, ws):
        reverse = [d == 1 for d in range(len(ws))]
        out, h_n, c_n = kernels.layers_fused(
            stack.mode, x.contiguous(), lengths.cpu(), [w.with_biases() for w in ws], reverse
        )
        return out, h_n, c_n
    outs, hs, cs = [], [], []
    for d, w in enumerate(ws):
        h0 = first[0][d] if first is not None else None
        c0 = first[1][d] if first is not None and first[1] is not None else None
        inp = reverse_within_length(x, lengths) if d == 1 else x
        if reference:
            out, h, c = _loop(stack, inp, lengths, w, h0, c0)
        else:
            out, h, c = direction(stack, inp, lengths, w, h0, c0, need_state)
        outs.append(reverse_within_length(out, lengths) if d == 1 else out)
        hs.append(h)
        cs.append(c)
    mask = lengths_mask(lengths, x.shape[1])[..., None]  # (B, T, 1): zero at padding
    out = torch.cat(outs, dim=-1) * mask
    c_n = torch.stack(cs) if stack.mode == "LSTM" and need_state else None  # type: ignore[arg-type]
    return out, (torch.stack(hs) if need_state else None), c_n


def _step(
    stack: Stack, x_t: Tensor, h: Tensor, c: Tensor | None, w: Weights
) -> tuple[Tensor, Tensor | None]:
    """One step of the textbook equations (the reference path)."""
    gi = x_t @ w.w_ih.t() + (w.b_ih if w.b_ih is not None else 0)
    gh = h @ w.w_hh.t() + (w.b_hh if w.b_hh is not None else 0)
    if stack.mode == "LSTM":
        assert c is not None
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return (h_new @ w.w_hr.t() if w.w_hr is not None else h_new), c_new
    if stack.mode == "GRU":
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (torch.relu(pre) if stack.mode == "RNN_RELU" else torch.tanh(pre)), None


def _loop(
    stack: Stack,
    x: Tensor,
    lengths: Tensor,
    w: Weights,
    h0: Tensor | None,
    c0: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The oracle: an explicit loop over time; the state only advances at real steps."""
    b, t = x.shape[:2]
    h = h0 if h0 is not None else x.new_zeros(b, stack.out_size)
    c = None
    if stack.mode == "LSTM":
        c = c0 if c0 is not None else x.new_zeros(b, stack.hidden_size)
    real = lengths_mask(lengths, t)  # (B, T)
    outs = []
    for step in range(t):
        h_new, c_new = _step(stack, x[:, step], h, c, w)
        m = real[:, step, None]
        h = torch.where(m, h_new, h)
        if c is not None and c_new is not None:
            c = torch.where(m, c_new, c)
        outs.append(torch.where(m, h_new, torch.zeros_like(h_new)))
    return torch.stack(outs, dim=1), h, c
