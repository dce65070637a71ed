"""From raw examples to model inputs, fitted on train and saved with the model.

Holds text cleaning and tokenisation (``text``), the capped vocabularies (``vocab``), the label
space of each task (``labels``), the per-feature normaliser (``normalizer``), the inference-time
:class:`InputPipeline` (``pipeline``) and the encoded train / valid / test splits (``splits``).

May import: :mod:`padless.errors`, :mod:`padless.config`, :mod:`padless.data`,
:mod:`padless.models.names`, numpy, tokenizers. Never torch: the edge install encodes inputs
for ONNX Runtime with this package alone.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.encode.labels import LabelSpace
    from padless.encode.normalizer import Normalizer, fit_normalizer
    from padless.encode.pipeline import InputPipeline
    from padless.encode.splits import Prepared, Split, encode_split, prepare
    from padless.encode.text import TextEncoder, clean_text, truncate, word_tokenize
    from padless.encode.vocab import BigramVocab, Vocab

_EXPORTS = {
    "TextEncoder": "text",
    "clean_text": "text",
    "word_tokenize": "text",
    "truncate": "text",
    "Vocab": "vocab",
    "BigramVocab": "vocab",
    "LabelSpace": "labels",
    "Normalizer": "normalizer",
    "fit_normalizer": "normalizer",
    "InputPipeline": "pipeline",
    "Split": "splits",
    "Prepared": "splits",
    "encode_split": "splits",
    "prepare": "splits",
}
__all__ = [
    "BigramVocab",
    "InputPipeline",
    "LabelSpace",
    "Normalizer",
    "Prepared",
    "Split",
    "TextEncoder",
    "Vocab",
    "clean_text",
    "encode_split",
    "fit_normalizer",
    "prepare",
    "truncate",
    "word_tokenize",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
