"""padless: exact, fast recurrent models on variable-length sequences, no compute on padding."""

__version__ = "0.1.0"


def load(path, batch_size: int = 64):
    """Load a trained model directory and return a :class:`padless.predict.Predictor`."""
    from padless.predict import load as _load

    return _load(path, batch_size=batch_size)
