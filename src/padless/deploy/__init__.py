"""Using a trained model: the artifact, prediction, exports and evaluation.

Holds the self-describing model directory (``artifact``), its ``manifest`` (every file listed
with its sha256, verified before it is read) and the checks of its ``weights`` (the safetensors
header and the sizes it implies, before allocation), :class:`Predictor` and :func:`load`
(``predict``) over the eager, ONNX Runtime and TorchScript backends (``backends``), streamed
prediction input files (``inputs``), the ONNX and TorchScript exports (``onnx``,
``torchscript``, dispatched by ``export``) with their eager-parity helpers (``parity``), and
``padless evaluate`` (``evaluate``).

May import: errors, config, data, encode, batching, models, evaluation. Never train. The ONNX
path (artifact, manifest, weights, predict, backends, inputs) imports no torch, for the edge
install.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.deploy.artifact import Artifact, load_artifact, save_artifact
    from padless.deploy.evaluate import evaluate_artifact
    from padless.deploy.export import export_artifact
    from padless.deploy.inputs import read_inputs
    from padless.deploy.onnx import export_onnx
    from padless.deploy.predict import Predictor, load
    from padless.deploy.torchscript import export_torchscript

_EXPORTS = {
    "Artifact": "artifact",
    "load_artifact": "artifact",
    "save_artifact": "artifact",
    "Predictor": "predict",
    "load": "predict",
    "read_inputs": "inputs",
    "export_artifact": "export",
    "export_onnx": "onnx",
    "export_torchscript": "torchscript",
    "evaluate_artifact": "evaluate",
}
__all__ = [
    "Artifact",
    "Predictor",
    "evaluate_artifact",
    "export_artifact",
    "export_onnx",
    "export_torchscript",
    "load",
    "load_artifact",
    "read_inputs",
    "save_artifact",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
