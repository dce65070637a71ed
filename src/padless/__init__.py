"""padless: exact, fast recurrent models on variable-length sequences, no compute on padding.

The public API, loaded lazily so that ``import padless`` needs no torch (the edge install runs
ONNX models without it). The architecture, bottom to top (each package may import only the
ones above it in this list; ``tests/test_layering.py`` enforces it)::

    errors, config      expected / got / fix errors; typed, frozen stage configs
    data                datasets and readers, the [data] source registry
    encode              text, vocabulary, labels, normaliser, InputPipeline (no torch)
    batching            collate, length-bucketed samplers, padding waste
    nn                  exact drop-in LSTM / GRU / RNN layers, fused kernels, length helpers
    models              encoder, pooling, hybrid, classifier, streaming on those layers
    evaluation          task losses, metrics, a model run over a split
    deploy              artifact, predictor and backends, ONNX / TorchScript export, evaluate
    train               the training loop, checkpoints, DDP, hardware, pre-training, report
    serve               the HTTP server: app, micro-batcher, sessions, monitoring
    cli                 the ``padless`` command

Shape legend, used the same way in every docstring: B batch, T time steps (a batch's padded
length, or one sequence's length), F input features per step, H hidden size, D directions (1 or
2), C outputs; where needed also E embedding size, L layers, K ids per step and N examples (a
whole split or list of inputs).
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from padless.batching.batch import Batch, collate
    from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
    from padless.batching.waste import analyze_lengths, padding_waste
    from padless.config import Config, load_config
    from padless.data.dataset import SequenceDataset, TextDataset
    from padless.data.long_table import read_long_table
    from padless.data.text_table import read_text_table
    from padless.data.ts import read_ts
    from padless.deploy.evaluate import evaluate_artifact
    from padless.deploy.export import export_artifact
    from padless.deploy.predict import Predictor, load
    from padless.encode.labels import LabelSpace
    from padless.encode.pipeline import InputPipeline
    from padless.errors import (
        ArtifactError,
        ConfigError,
        DataError,
        ExportError,
        PadlessError,
        TrainingError,
    )
    from padless.evaluation.metrics import compute_metrics
    from padless.models.classifier import SequenceClassifier, build_model
    from padless.models.encoder import RecurrentEncoder
    from padless.models.hybrid import HybridEncoder
    from padless.models.pooling import MaskedPooling

_EXPORTS = {
    "Batch": "batching.batch",
    "collate": "batching.batch",
    "BucketBatchSampler": "batching.samplers",
    "TokenBudgetSampler": "batching.samplers",
    "analyze_lengths": "batching.waste",
    "padding_waste": "batching.waste",
    "Config": "config",
    "load_config": "config",
    "TextDataset": "data.dataset",
    "SequenceDataset": "data.dataset",
    "read_text_table": "data.text_table",
    "read_long_table": "data.long_table",
    "read_ts": "data.ts",
    "evaluate_artifact": "deploy.evaluate",
    "export_artifact": "deploy.export",
    "Predictor": "deploy.predict",
    "load": "deploy.predict",
    "LabelSpace": "encode.labels",
    "InputPipeline": "encode.pipeline",
    "PadlessError": "errors",
    "DataError": "errors",
    "ConfigError": "errors",
    "ArtifactError": "errors",
    "TrainingError": "errors",
    "ExportError": "errors",
    "compute_metrics": "evaluation.metrics",
    "SequenceClassifier": "models.classifier",
    "build_model": "models.classifier",
    "RecurrentEncoder": "models.encoder",
    "HybridEncoder": "models.hybrid",
    "MaskedPooling": "models.pooling",
}
__all__ = [
    "ArtifactError",
    "Batch",
    "BucketBatchSampler",
    "Config",
    "ConfigError",
    "DataError",
    "ExportError",
    "HybridEncoder",
    "InputPipeline",
    "LabelSpace",
    "MaskedPooling",
    "PadlessError",
    "Predictor",
    "RecurrentEncoder",
    "SequenceClassifier",
    "SequenceDataset",
    "TextDataset",
    "TokenBudgetSampler",
    "TrainingError",
    "__version__",
    "analyze_lengths",
    "build_model",
    "collate",
    "compute_metrics",
    "evaluate_artifact",
    "export_artifact",
    "load",
    "load_config",
    "padding_waste",
    "read_long_table",
    "read_text_table",
    "read_ts",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
