"""Exact recurrent layers over ragged batches: drop-in for ``torch.nn.LSTM`` / ``GRU`` / ``RNN``.

``import padless.nn as nn`` in place of ``import torch.nn as nn``: :class:`LSTM`, :class:`GRU`
and :class:`RNN` are padless's exact, fast layers (subclasses of torch's, same constructor,
state dict and call, plus ``lengths=``); ``nn.utils.rnn.pad_packed_sequence`` is padless's
linear-time one (``packing``: same tensors); every other name (``nn.Linear``, ``nn.Module``,
``nn.utils.clip_grad_norm_``, ...) is torch.nn's own object, so code written for torch.nn runs
unchanged.

Holds the layers (``layers``), the exact execution engine under them (``engine``), one
direction through torch's own kernels (``directions``), packed <-> padded conversion
(``packing``, served as ``utils.rnn``), the length helpers (``lengths``), the fused C++ kernels
(``kernels`` + ``csrc/``) and how the kernels are built and cached (``extension``).

May import: :mod:`padless.errors`, torch. Nothing else of padless: every model, export and
server builds on these layers, so they sit at the bottom.
"""

import importlib
import sys
from typing import TYPE_CHECKING, Any

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.nn.layers import GRU, LSTM, RNN
    from padless.nn.lengths import check_lengths, lengths_mask, reverse_within_length

_EXPORTS = {
    "LSTM": "layers",
    "GRU": "layers",
    "RNN": "layers",
    "lengths_mask": "lengths",
    "reverse_within_length": "lengths",
    "check_lengths": "lengths",
}
__all__ = ["GRU", "LSTM", "RNN", "check_lengths", "lengths_mask", "reverse_within_length"]
_own_getattr, _own_dir = exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    """padless's layers first, then torch.nn's name (the one-import drop-in)."""
    if name in _EXPORTS:
        return _own_getattr(name)
    if name == "utils":  # torch.nn.utils with padless's faster pad_packed_sequence
        return importlib.import_module(f"{__name__}.utils")
    torch_nn = importlib.import_module("torch.nn")
    if name.startswith("__") or not hasattr(torch_nn, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (nor has torch.nn)")
    value = getattr(torch_nn, name)
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return _own_dir()
