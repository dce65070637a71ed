"""Ragged synthetic series for the series baselines' tests (MiniRocket, rocket)."""

import numpy as np

FREQS = (1.0, 3.0, 6.0)


def make_series(n, seed, lengths=None, num_classes=3, features=2):
    """Ragged (T, F) series: class k is a sine of frequency FREQS[k] (plus noise) in every
    feature, each feature with its own phase; frequencies are cycles per 40 steps."""
    rng = np.random.default_rng(seed)
    if lengths is None:
        lengths = rng.integers(20, 80, size=n)
    y = rng.integers(0, num_classes, size=n)
    xs = []
    for t, k in zip(lengths, y, strict=True):
        steps = np.arange(t)[:, None]
        phase = rng.uniform(0, 2 * np.pi, size=features)
        x = np.sin(2 * np.pi * FREQS[k] * steps / 40 + phase)
        xs.append((x + 0.1 * rng.standard_normal(x.shape)).astype(np.float32))
    return xs, y
