"""``torch.nn.utils.rnn`` for ``import padless.nn as nn`` code: ``pad_packed_sequence`` is
:func:`padless.nn.packing.pad_packed_sequence` (the same tensors, linear-time backward); every
other name (``pack_padded_sequence``, ``PackedSequence``, ``pad_sequence``, ...) is torch's own."""

import importlib
from typing import Any

from padless.nn.packing import pad_packed_sequence

__all__ = ["pad_packed_sequence"]


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("torch.nn.utils.rnn"), name)
