"""Exact recurrent layers over ragged batches: drop-in for ``torch.nn.LSTM`` / ``GRU`` / ``RNN``.

Holds the layers (``layers``: :class:`LSTM`, :class:`GRU`, :class:`RNN`), the exact execution
engine under them (``engine``), the length helpers (``lengths``), the fused C++ kernels
(``kernels`` + ``csrc/``) and how the kernels are built and cached (``extension``).

May import: :mod:`padless.errors`, torch. Nothing else of padless: every model, export and
server builds on these layers, so they sit at the bottom.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.nn.lengths import check_lengths, lengths_mask, reverse_within_length

_EXPORTS = {
    "lengths_mask": "lengths",
    "reverse_within_length": "lengths",
    "check_lengths": "lengths",
}
__all__ = ["check_lengths", "lengths_mask", "reverse_within_length"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
