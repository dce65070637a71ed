"""Fused, exact, variable-length LSTM layer for float32 CPU tensors (a C++ extension).

The extension (``csrc/lstm.cpp``) is compiled on first use with
``torch.utils.cpp_extension.load`` (needs ninja and a C++ compiler; about 25 s, then cached in
the torch extensions directory: later processes load it in about a second). :func:`available`
reports whether it could be built; ``PADLESS_NO_EXT=1`` turns it off.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2).

What it computes is exactly ``torch.nn.LSTM``'s layer (gate order i, f, g, o; zero initial
state) on each sequence on its own: rows are sorted by length once, so at step ``s`` only the
rows with ``length > s`` are computed and padding costs nothing; the reverse direction starts at
each sequence's own last real step (no gathers). Per step, one register-blocked loop computes
``[x_t | h_prev] @ [W_ih | W_hh]^T`` together with the gate activations and the cell update; the
backward step likewise computes the gate gradients and ``dgates @ [W_hh | W_ih]`` (dh and dx)
in one pass, and the weight gradients are one large GEMM per direction over the real tokens.
Every batch row is an independent recurrence, so the (direction x row group) tasks run on the
intra-op threads without any synchronisation (two directions on two threads: one each). Large
internal buffers are pooled across calls (:func:`empty_cache` releases them).

Limits: float32, CPU, one layer per call (stack layers and apply dropout between them in
Python), zero initial state, backward at most once per forward (no retain_graph re-use, no
double backward).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from padless.nn import extension

__all__ = ["available", "bilstm_layer", "empty_cache", "lstm_layer", "lstm_layers_fused"]

log = logging.getLogger(__name__)

_CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCES = ("lstm.cpp",)
_lock = threading.Lock()
_state: dict = {"tried": False, "ext": None, "error": None, "warned_env": False}


def _compile():
    """Build (once per environment) or load the extension; raise with the reason."""
    return extension.load([_CSRC / s for s in _SOURCES])


def _extension():
    """The compiled module, or None (compiled at most once per process, thread-safe)."""
    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        if not _state["warned_env"]:
            _state["warned_env"] = True
            log.warning("padless.nn.kernels: fused LSTM extension disabled by PADLESS_NO_EXT")
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
                    "padless.nn.kernels: fused LSTM extension unavailable, falling back to "
                    "PyTorch kernels. Reason: %s",
                    exc,
                )
            _state["tried"] = True
    return _state["ext"]


def available() -> bool:
    """True if the fused LSTM extension is built and loaded (builds it on the first call)."""
    return _extension() is not None


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


class _FusedLSTM(torch.autograd.Function):
    """D directions of one LSTM layer: weights are (w_ih, w_hh, b_ih, b_hh) per direction."""

    @staticmethod
    def forward(ctx, x, lengths, reverse, *weights):
        ext = _extension()
        if ext is None:
            raise RuntimeError(
                "padless.nn.kernels: the fused LSTM extension is not available "
                f"({unavailable_reason()}); check kernels.available() first"
            )
        save = any(ctx.needs_input_grad)
        out, h_n, c_n, xh, gates, cs = ext.forward(x, lengths, list(weights), list(reverse), save)
        ctx.set_materialize_grads(False)
        ctx.reverse = reverse
        ctx.t = x.shape[1]
        ctx.used = False
        if save:
            ctx.save_for_backward(lengths, xh, gates, cs, *weights)
        return out, h_n, c_n

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, dc_n):
        if ctx.used:
            raise RuntimeError(
                "padless.nn.kernels: backward through the fused LSTM ran twice (retain_graph); "
                "the first backward overwrites its saved gates with their gradients"
            )
        ctx.used = True
        lengths, xh, gates, cs, *weights = ctx.saved_tensors
        res = _extension().backward(
            dout, dh_n, dc_n, lengths, xh, gates, cs, weights,
            list(ctx.reverse), ctx.t, ctx.needs_input_grad[0],
        )  # fmt: skip
        grads = []
        for d in range(len(ctx.reverse)):
            dw_ih, dw_hh, db = res[1 + 3 * d : 4 + 3 * d]
            grads += [dw_ih, dw_hh, db, db.clone()]
        return (res[0] if ctx.needs_input_grad[0] else None, None, None, *grads)


def _check(x: Tensor, lengths: Tensor) -> Tensor:
    if x.dim() != 3 or x.dtype != torch.float32 or x.device.type != "cpu":
        raise ValueError(
            f"x: expected a (B, T, F) float32 CPU tensor, got {tuple(x.shape)} {x.dtype} on "
            f"{x.device}"
        )
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0] or lengths.is_floating_point():
        raise ValueError(f"lengths: expected ({x.shape[0]},) integers, got {tuple(lengths.shape)}")
    return lengths.to(device="cpu", dtype=torch.int64).contiguous()


def _check_call(x: Tensor, lengths: Tensor, weights: Sequence[Sequence[Tensor]]) -> None:
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
    for d, ws in enumerate(weights):
        if len(ws) != 4:
            raise RuntimeError(f"direction {d}: expected (w_ih, w_hh, b_ih, b_hh)")
        w_ih, w_hh, b_ih, b_hh = ws
        h4 = w_ih.shape[0] if w_ih.dim() == 2 else -1
        if h4 <= 0 or h4 % 4 or tuple(w_ih.shape) != (h4, f):
            raise RuntimeError(f"w_ih: expected (4H, F={f}), got {tuple(w_ih.shape)}")
        if tuple(w_hh.shape) != (h4, h4 // 4):
            raise RuntimeError(f"w_hh: expected (4H, H) = {(h4, h4 // 4)}, got {tuple(w_hh.shape)}")
        if b_ih.numel() != h4 or b_hh.numel() != h4:
            raise RuntimeError(f"b_ih, b_hh: expected {h4} values each")
        if any(w.dtype != torch.float32 or w.device.type != "cpu" for w in ws):
            raise RuntimeError("weights: expected float32 CPU tensors")


def lstm_layers_fused(
    x: Tensor, lengths: Tensor, weights: Sequence[Sequence[Tensor]], reverse: Sequence[bool]
) -> tuple[Tensor, Tensor, Tensor]:
    """Several directions of one layer over the same input, in one call.

    ``weights[d] = (w_ih, w_hh, b_ih, b_hh)`` and ``reverse[d]`` for each direction d; returns
    ``out`` (B, T, D*H) (direction d in columns ``d*H:(d+1)*H``, zero at padded steps), ``h_n``
    and ``c_n`` (D, B, H). Each direction is what :func:`lstm_layer` gives.
    """
    lengths = _check(x, lengths)
    if len(weights) != len(reverse) or not weights:
        raise ValueError("weights and reverse: expected one entry per direction")
    _check_call(x, lengths, weights)
    flat = [w for ws in weights for w in ws]
    return _FusedLSTM.apply(x, lengths, tuple(bool(r) for r in reverse), *flat)


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
