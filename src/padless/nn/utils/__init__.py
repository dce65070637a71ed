"""``torch.nn.utils`` for ``import padless.nn as nn`` code: every name is torch's own, except
:mod:`padless.nn.utils.rnn`'s faster ``pad_packed_sequence`` (same results)."""

import importlib
from typing import Any

from padless.nn.utils import rnn

__all__ = ["rnn"]


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("torch.nn.utils"), name)
