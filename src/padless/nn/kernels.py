"""Fused, exact, variable-length recurrent layers (LSTM, GRU, vanilla RNN) for float32 CPU tensors
(a C++ extension).

The extension (``csrc/lstm.cpp``, all four modes) is compiled on first use through
:mod:`padless.nn.extension` (needs ninja and a C++ compiler; about a minute, once per
environment; later processes load it in about a second). :func:`available` reports whether it
could be built, :func:`supports` whether it has a given mode; ``PADLESS_NO_EXT=1`` turns it off.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2).

What it computes is exactly the layer of ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (torch's mode
names ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``; torch's gate orders and formulas;
zero initial state) on each sequence on its own: rows are sorted by length once, so at step ``s``
only the rows with ``length > s`` are computed and padding costs nothing; the reverse direction
starts at each sequence's own last real step (no gathers). Per step, one register-blocked loop
computes ``[x_t | h_prev] @ [W_ih | W_hh]^T`` together with the gate activations and the state
update (for the GRU the n gate's input and recurrent sums are kept apart, as its formula needs);
the backward step likewise computes the gate gradients and ``dgates @ [W_hh | W_ih]`` (dh and
dx), and the weight gradients are one large GEMM per direction over the real tokens (the GRU's
n gate adds two smaller ones). Every batch row is an independent recurrence, so the
(direction x row group) tasks run on the intra-op threads without any synchronisation (two
directions on two threads: one each). The vector width and register blocking follow the ISA the
extension was compiled for (AVX-512, AVX2, or 128-bit vectors). Large internal buffers are
pooled across calls (:func:`empty_cache` releases them).

Gradients: the first-order backward is the fused C++ one. ``create_graph=True`` (double
backward, e.g. a gradient penalty) and a second backward through the same graph
(``retain_graph=True``) recompute the layer with differentiable torch ops (``torch.lstm`` /
``gru`` / ``rnn_tanh`` / ``rnn_relu`` over time segments between consecutive lengths, so every
sequence runs its exact length) and differentiate that: same values, torch's speed.

Limits: float32, CPU, one layer per call (stack layers and apply dropout between them in
Python), zero initial state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from padless.nn import extension
from padless.nn.directions import Stack, Weights, direction
from padless.nn.lengths import lengths_mask, reverse_within_length

__all__ = [
    "MODES",
    "available",
    "bilstm_layer",
    "empty_cache",
    "layers_fused",
    "lstm_layer",
    "lstm_layers_fused",
    "sources",
    "supports",
    "unavailable_reason",
]

log = logging.getLogger(__name__)

_CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCES = ("lstm.cpp",)
_lock = threading.Lock()
_state: dict = {"tried": False, "ext": None, "error": None, "warned_env": False}

#: torch's mode names, with the C++ mode number and the gates per hidden unit.
MODES = {"LSTM": (0, 4), "GRU": (1, 3), "RNN_TANH": (2, 1), "RNN_RELU": (3, 1)}


def sources() -> list[Path]:
    """The extension's C++ sources (what ``padless kernels build`` compiles)."""
    return [_CSRC / s for s in _SOURCES]


def _compile():
    """Build (once per environment) or load the extension; raise with the reason."""
    return extension.load(sources())


def _extension():
    """The compiled module, or None (compiled at most once per process, thread-safe)."""
    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        if not _state["warned_env"]:
            _state["warned_env"] = True
            log.warning("padless.nn.kernels: fused RNN extension disabled by PADLESS_NO_EXT")
        return None
    if _state["tried"]:
        return _state["ext"]
    with _lock:
        if not _state["tried"]:
            try:
                _state["ext"] = _compile()
            except Exception as exc:  # noqa: BLE001
                _state["error"] = str(exc)
                log.warning(
                    "padless.nn.kernels: fused RNN extension unavailable, falling back to "
                    "PyTorch kernels. Reason: %s",
                    exc,
                )
            _state["tried"] = True
    return _state["ext"]


def available() -> bool:
    """True if the fused extension is built and loaded (builds it on the first call)."""
    return _extension() is not None


def supports(mode: str) -> bool:
    """True if the extension is built and loaded and runs ``mode`` (``"LSTM"``, ``"GRU"``,
    ``"RNN_TANH"`` or ``"RNN_RELU"``, torch's names)."""
    ext = _extension()
    if ext is None or mode not in MODES:
        return False
    modes = ext.modes() if hasattr(ext, "modes") else ["LSTM"]
    return mode in modes


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True or was not asked yet)."""
    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        return "disabled by PADLESS_NO_EXT"
    return _state["error"]


def empty_cache() -> int:
    """Release the extension's pooled workspace blocks that are not in use (the pool keeps the
    large internal buffers of the last calls for reuse, up to 2 GiB of free blocks); returns the
    bytes still held by blocks in use. A no-op when the extension is not loaded."""
    ext = _state["ext"]
    return int(ext.release_workspace(-1)) if ext is not None else 0


# -- the exact torch-op recompute (double backward, repeated backward) ---------------------------
def _reference(
    mode: str,
    x: Tensor,
    lengths: Tensor,
    weights: Sequence[Sequence[Tensor]],
    reverse: Sequence[bool],
) -> tuple[Tensor, Tensor, Tensor | None]:
    """What the fused layer computes, with differentiable torch ops (any order of gradients):
    each direction through :func:`padless.nn.directions.direction`, the engine's own exact
    torch path (the reverse one on the input reversed within each length, its output reversed
    back). Returns ``out`` (B, T, D*H) zero at padding, ``h_n`` (D, B, H), ``c_n`` (D, B, H) or
    None."""
    t = x.shape[1]
    lens = lengths.to(device=x.device, dtype=torch.int64)
    t_max = int(lens.max())
    xs = x[:, :t_max]  # the segments stop at the longest length: so must the input
    mask = lengths_mask(lens, t_max)[..., None]
    stack = Stack(mode, weights[0][1].shape[1])
    outs, hs, cs = [], [], []
    for ws, rev in zip(weights, reverse, strict=True):
        inp = reverse_within_length(xs, lens) if rev else xs
        out, h, c = direction(stack, inp, lens, Weights.of(ws, stack), None, None, True)
        outs.append((reverse_within_length(out, lens) if rev else out) * mask)
        hs.append(h)
        cs.append(c)
    out = F.pad(torch.cat(outs, -1), (0, 0, 0, t - t_max))
    c_n = torch.stack(cs) if mode == "LSTM" else None  # type: ignore[arg-type]
    return out, torch.stack(hs), c_n


class _FusedRNN(torch.autograd.Function):
    """D directions of one layer: weights are (w_ih, w_hh, b_ih, b_hh) per direction. Outputs
    (out, h_n, c_n) for LSTM, (out, h_n) otherwise."""

    @staticmethod
    def forward(ctx, mode, x, lengths, reverse, *weights):
        ext = _extension()
        if ext is None:
            raise RuntimeError(
                "padless.nn.kernels: the fused RNN extension is not available "
                f"({unavailable_reason()}); check kernels.available() first"
            )
        code = MODES[mode][0]
        # Nothing to save under torch.inference_mode (no graph is recorded there; inference
        # tensors have no version counter either).
        save = any(ctx.needs_input_grad) and not torch.is_inference_mode_enabled()
        out, h_n, c_n, xh, gates, cs = ext.forward(
            code, x, lengths, list(weights), list(reverse), save
        )
        ctx.set_materialize_grads(False)
        ctx.mode = mode
        ctx.reverse = reverse
        ctx.t = x.shape[1]
        ctx.used = False
        if save:
            # xh, gates (and LSTM's c) for the fused backward, which overwrites the gates with
            # their gradients; x and the weights for the recompute path. x is kept as is (not
            # saved: the fused backward does not read it, so changing it in place afterwards
            # stays allowed, as before); the recompute checks its version instead.
            ctx.save_for_backward(lengths, xh, gates, cs, *weights)
            ctx.x = x
            ctx.x_version = None if x.is_inference() else x._version
        return (out, h_n, c_n) if mode == "LSTM" else (out, h_n)

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n=None):
        grads = (dout, dh_n, dc_n) if ctx.mode == "LSTM" else (dout, dh_n)
        create_graph = torch.is_grad_enabled()
        if create_graph or ctx.used:
            return _FusedRNN._recompute_backward(ctx, grads, create_graph)
        ctx.used = True
        lengths, xh, gates, cs, *weights = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[1]
        res = _extension().backward(
            MODES[ctx.mode][0], dout, dh_n, dc_n if ctx.mode == "LSTM" else None, lengths, xh,
            gates, cs, weights, list(ctx.reverse), ctx.t, need_dx,
        )  # fmt: skip
        wgrads = []
        for d in range(len(ctx.reverse)):
            wgrads += list(res[1 + 4 * d : 5 + 4 * d])
        return (None, res[0] if need_dx else None, None, None, *wgrads)

    @staticmethod
    def _recompute_backward(ctx, grads, create_graph):
        """The gradients through :func:`_reference` (a graph of them with create_graph)."""
        lengths, _, _, _, *weights = ctx.saved_tensors
        x = ctx.x
        if ctx.x_version is not None and x._version != ctx.x_version:
            raise RuntimeError(
                "padless.nn.kernels: the input of the fused recurrent layer was modified in place "
                "after the forward pass; its double (or repeated) backward recomputes from it"
            )
        need = ctx.needs_input_grad
        wanted = [(1, x)] + [(4 + i, w) for i, w in enumerate(weights)]
        wanted = [(i, v) for i, v in wanted if need[i]]
        d = len(ctx.reverse)
        with torch.enable_grad():
            # Inputs that need no gradient enter as constants (detached).
            xin = x if need[1] else x.detach()
            ws = [w if need[4 + i] else w.detach() for i, w in enumerate(weights)]
            outs = _reference(
                ctx.mode, xin, lengths, [ws[4 * k : 4 * k + 4] for k in range(d)], ctx.reverse
            )
            pairs = [
                (o, g)
                for o, g in zip(outs[: len(grads)], grads, strict=True)
                if o is not None and g is not None
            ]
            if not pairs or not wanted:
                return (None,) * (4 + len(weights))
            got = torch.autograd.grad(
                [o for o, _ in pairs],
                [v for _, v in wanted],
                [g for _, g in pairs],
                create_graph=create_graph,
                allow_unused=True,
            )
        res: list[Tensor | None] = [None] * (4 + len(weights))
        for (i, v), gr in zip(wanted, got, strict=True):
            res[i] = gr if gr is not None else torch.zeros_like(v)
        return tuple(res)


def _check(x: Tensor, lengths: Tensor) -> Tensor:
    if x.dim() != 3 or x.dtype != torch.float32 or x.device.type != "cpu":
        raise ValueError(
            f"x: expected a (B, T, F) float32 CPU tensor, got {tuple(x.shape)} {x.dtype} on "
            f"{x.device}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"x: expected a non-empty (B, T, F) batch, got {tuple(x.shape)}")
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0] or lengths.is_floating_point():
        raise ValueError(f"lengths: expected ({x.shape[0]},) integers, got {tuple(lengths.shape)}")
    return lengths.to(device="cpu", dtype=torch.int64).contiguous()


def _check_call(
    x: Tensor, lengths: Tensor, weights: Sequence[Sequence[Tensor]], gates: int = 4
) -> None:
    """The extension's own input checks, in Python: a C++ exception thrown across the
    extension boundary crashed the process on one machine (torch 2.11, its JIT toolchain), so
    bad input is refused here, before the call. Same checks and exception types as the C++
    ones (whose messages call the input features I)."""
    t, f = x.shape[1], x.shape[2]
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > t:
        bad = int(torch.nonzero((lengths < 1) | (lengths > t))[0, 0])
        raise RuntimeError(
            f"lengths: expected every length in [1, T={t}], got {int(lengths[bad])} at row {bad}"
        )
    g = gates
    h = None
    for d, ws in enumerate(weights):
        if len(ws) != 4:
            raise RuntimeError(f"direction {d}: expected (w_ih, w_hh, b_ih, b_hh)")
        w_ih, w_hh, b_ih, b_hh = ws
        if not all(isinstance(w, Tensor) for w in ws):
            raise RuntimeError(f"direction {d}: expected four tensors (w_ih, w_hh, b_ih, b_hh)")
        gh = w_ih.shape[0] if w_ih.dim() == 2 else -1
        if gh <= 0 or gh % g or tuple(w_ih.shape) != (gh, f):
            raise RuntimeError(f"w_ih: expected ({g}H, F={f}), got {tuple(w_ih.shape)}")
        if h is None:
            h = gh // g
        elif gh // g != h:
            raise RuntimeError(f"w_ih: expected ({g}H, F) = {(g * h, f)}, got {tuple(w_ih.shape)}")
        if tuple(w_hh.shape) != (gh, gh // g):
            raise RuntimeError(
                f"w_hh: expected ({g}H, H) = {(gh, gh // g)}, got {tuple(w_hh.shape)}"
            )
        if b_ih.numel() != gh or b_hh.numel() != gh:
            raise RuntimeError(f"b_ih, b_hh: expected {gh} values each")
        if any(w.dtype != torch.float32 or w.device.type != "cpu" for w in ws):
            raise RuntimeError("weights: expected float32 CPU tensors")


def layers_fused(
    mode: str,
    x: Tensor,
    lengths: Tensor,
    weights: Sequence[Sequence[Tensor]],
    reverse: Sequence[bool],
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Several directions of one recurrent layer over the same input, in one call.

    ``mode`` is torch's: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``. ``x`` (B, T, F)
    float32 CPU, ``lengths`` (B,) integers with ``1 <= length <= T``; ``weights[d] = (w_ih,
    w_hh, b_ih, b_hh)`` (torch's layouts and gate orders) and ``reverse[d]`` for each direction
    d. A forward direction runs steps ``0 .. length-1`` and ends in the state after the last
    real step; a reverse one runs each sequence from ``length-1`` down to 0 (``out[b, t]`` is
    its output at original position t) and ends in the state after step 0. Zero initial state.

    Returns ``out`` (B, T, D*H) (direction d in columns ``d*H:(d+1)*H``, zero at padded steps),
    ``h_n`` (D, B, H) and ``c_n`` (D, B, H) for LSTM, None otherwise. Differentiable with
    respect to ``x`` and every weight, through all three outputs (to any order: see the module
    docstring). Raises RuntimeError when the extension is not built (check :func:`supports`).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {sorted(MODES)} (torch's names), got {mode!r}")
    lengths = _check(x, lengths)
    if len(weights) != len(reverse) or not weights:
        raise ValueError("weights and reverse: expected one entry per direction")
    _check_call(x, lengths, weights, MODES[mode][1])
    if not supports(mode):
        raise RuntimeError(
            f"padless.nn.kernels: the fused extension does not run {mode} "
            f"({unavailable_reason() or 'not in this build'}); check kernels.supports() first"
        )
    flat = [w for ws in weights for w in ws]
    if not torch.is_grad_enabled():
        # Under no_grad / inference_mode nothing is recorded, but the Function still sees the
        # weights' requires_grad and would keep its (B, T, G*H) buffers for a backward that
        # never comes (peak memory 3x torch's in the inference benchmark); detaching is exact.
        x, flat = x.detach(), [w.detach() for w in flat]
    res = _FusedRNN.apply(mode, x, lengths, tuple(bool(r) for r in reverse), *flat)
    return (res[0], res[1], res[2]) if mode == "LSTM" else (res[0], res[1], None)


def lstm_layers_fused(
    x: Tensor, lengths: Tensor, weights: Sequence[Sequence[Tensor]], reverse: Sequence[bool]
) -> tuple[Tensor, Tensor, Tensor]:
    """Several directions of one LSTM layer over the same input, in one call.

    ``weights[d] = (w_ih, w_hh, b_ih, b_hh)`` and ``reverse[d]`` for each direction d; returns
    ``out`` (B, T, D*H) (direction d in columns ``d*H:(d+1)*H``, zero at padded steps), ``h_n``
    and ``c_n`` (D, B, H). Each direction is what :func:`lstm_layer` gives. Same as
    ``layers_fused("LSTM", ...)``.
    """
    out, h_n, c_n = layers_fused("LSTM", x, lengths, weights, reverse)
    assert c_n is not None
    return out, h_n, c_n


def lstm_layer(
    x: Tensor,
    lengths: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    reverse: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """One direction of one LSTM layer over a right-padded batch.

    ``x`` (B, T, F) float32 CPU, ``lengths`` (B,) int64 with ``1 <= length <= T``. Returns
    ``out`` (B, T, H) (zero at padded steps), ``h_n`` and ``c_n`` (B, H). ``reverse=False``
    runs steps ``0 .. length-1`` and returns the state after the last real step;
    ``reverse=True`` runs each sequence from ``length-1`` down to 0 (``out[b, t]`` is the
    reverse output at original position t) and returns the state after step 0. Differentiable
    with respect to ``x``, the four weights, and through ``h_n`` and ``c_n``.
    """
    out, h_n, c_n = lstm_layers_fused(x, lengths, [(w_ih, w_hh, b_ih, b_hh)], [reverse])
    return out, h_n[0], c_n[0]


def bilstm_layer(
    x: Tensor, lengths: Tensor, forward: Sequence[Tensor], backward: Sequence[Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    """Both directions of a bidirectional layer in one call (each direction on its own thread
    when there are two): ``out`` (B, T, 2H) = [forward, reverse], ``h_n``, ``c_n`` (2, B, H)."""
    return lstm_layers_fused(x, lengths, [forward, backward], [False, True])
