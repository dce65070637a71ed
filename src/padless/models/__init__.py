"""The exact ragged-sequence engine and the models built on it.

Holds the architecture's names (``names``, torch-free), :class:`RecurrentEncoder`
(``encoder``, on the exact layers of :mod:`padless.nn`), masked pooling (``pooling``), the
RNN -> Transformer hybrid (``hybrid``), the conv front end (``frontend``),
:class:`SequenceClassifier` and :func:`build_model` (``classifier``) and stateful streaming
(``streaming``).

May import: :mod:`padless.errors`, :mod:`padless.config`, :mod:`padless.nn`, torch. Never
data, encode, train, deploy or serve: a model knows tensors and lengths, not where they came
from.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.models.classifier import SequenceClassifier
    from padless.models.encoder import RecurrentEncoder
    from padless.models.frontend import ConvFrontEnd
    from padless.models.hybrid import HybridEncoder
    from padless.models.pooling import MaskedPooling
    from padless.models.streaming import Stream, StreamState, streamable

_EXPORTS = {
    "RecurrentEncoder": "encoder",
    "MaskedPooling": "pooling",
    "HybridEncoder": "hybrid",
    "ConvFrontEnd": "frontend",
    "SequenceClassifier": "classifier",
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
    "streamable",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
