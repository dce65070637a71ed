"""The exact ragged-sequence engine and the models built on it.

Holds the architecture's names (``names``, torch-free), the length helpers (``lengths``), the
fused C++ kernels (``kernels`` + ``csrc/``), :class:`RecurrentEncoder` (``encoder``), masked
pooling (``pooling``), the RNN -> Transformer hybrid (``hybrid``), the conv front end
(``frontend``), :class:`SequenceClassifier` and :func:`build_model` (``classifier``) and
stateful streaming (``streaming``).

May import: :mod:`padless.errors`, :mod:`padless.config`, torch. Never data, encode, train,
deploy or serve: a model knows tensors and lengths, not where they came from.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.models.classifier import SequenceClassifier
    from padless.models.encoder import RecurrentEncoder
    from padless.models.frontend import ConvFrontEnd
    from padless.models.hybrid import HybridEncoder
    from padless.models.lengths import check_lengths, lengths_mask, reverse_within_length
    from padless.models.pooling import MaskedPooling
    from padless.models.streaming import Stream, StreamState, streamable

_EXPORTS = {
    "RecurrentEncoder": "encoder",
    "MaskedPooling": "pooling",
    "HybridEncoder": "hybrid",
    "ConvFrontEnd": "frontend",
    "SequenceClassifier": "classifier",
    "lengths_mask": "lengths",
    "reverse_within_length": "lengths",
    "check_lengths": "lengths",
    "Stream": "streaming",
    "StreamState": "streaming",
    "streamable": "streaming",
}
__all__ = [
    "ConvFrontEnd",
    "HybridEncoder",
    "MaskedPooling",
    "RecurrentEncoder",
    "SequenceClassifier",
    "Stream",
    "StreamState",
    "check_lengths",
    "lengths_mask",
    "reverse_within_length",
    "streamable",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
