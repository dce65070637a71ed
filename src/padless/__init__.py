"""padless: exact, fast recurrent models on variable-length sequences, no compute on padding."""

__version__ = "0.1.0"


def load(path, batch_size: int = 64, backend: str = "eager", onnx_path=None, threads=None):
    """Load a trained model directory and return a :class:`padless.predict.Predictor`.

    ``backend="onnx"`` runs ``onnx_path`` (default ``path/model.onnx``, from ``padless export``)
    in ONNX Runtime with ``threads`` intra-op threads instead of PyTorch, and needs no torch.
    """
    from padless.predict import load as _load

    return _load(path, batch_size=batch_size, backend=backend, onnx_path=onnx_path, threads=threads)
