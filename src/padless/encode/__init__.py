"""From raw examples to model inputs, fitted on train and saved with the model.

Holds text cleaning and tokenisation (``text``; the batch word tokenizer in ``words``), the
capped vocabularies (``vocab``), the label space of each task (``labels``), the per-feature
normaliser (``normalizer``), the inference-time :class:`InputPipeline` (``pipeline``) and the
encoded train / valid / test splits (``splits``), cached on disk (``prepared``: the data stage;
``store``: the Arrow files; ``cache``: keys and locks; ``streaming``: building a store from a
table larger than memory).

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
    from padless.encode.prepared import prepare
    from padless.encode.splits import Prepared, Split, encode_split, prepare_in_memory
    from padless.encode.store import StoredSplit
    from padless.encode.text import (
        TextEncoder,
        clean_batch,
        clean_text,
        split_words,
        truncate,
        truncate_flat,
        word_tokenize,
    )
    from padless.encode.vocab import BigramVocab, Vocab
    from padless.encode.words import word_ids

_EXPORTS = {
    "TextEncoder": "text",
    "clean_text": "text",
    "word_tokenize": "text",
    "truncate": "text",
    "truncate_flat": "text",
    "clean_batch": "text",
    "split_words": "text",
    "word_ids": "words",
    "Vocab": "vocab",
    "BigramVocab": "vocab",
    "LabelSpace": "labels",
    "Normalizer": "normalizer",
    "fit_normalizer": "normalizer",
    "InputPipeline": "pipeline",
    "Split": "splits",
    "Prepared": "splits",
    "encode_split": "splits",
    "prepare_in_memory": "splits",
    "prepare": "prepared",
    "StoredSplit": "store",
}
__all__ = [
    "BigramVocab",
    "InputPipeline",
    "LabelSpace",
    "Normalizer",
    "Prepared",
    "Split",
    "StoredSplit",
    "TextEncoder",
    "Vocab",
    "clean_batch",
    "clean_text",
    "encode_split",
    "fit_normalizer",
    "prepare",
    "prepare_in_memory",
    "split_words",
    "truncate",
    "truncate_flat",
    "word_ids",
    "word_tokenize",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
