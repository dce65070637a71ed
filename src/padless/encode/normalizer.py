"""Per-feature standardisation of numeric sequences, fitted on the train split only.

Shapes: a sequence is float32 (T, F), time steps first, one column per feature. The
statistics run over every real time step of every train sequence (padding never exists here:
sequences are kept ragged), so valid / test never leak into them; they are saved with the
model (``normalizer.json``) and applied unchanged at inference.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from padless.data.dataset import SequenceDataset
from padless.errors import ArtifactError, data_error, format_error

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- normalisation
class Normalizer:
    """Per-feature ``(x - mean) / std`` over all real time steps, fitted on train only (so no
    statistics leak from valid / test); population std, 1 for a constant feature."""

    def __init__(self, mean, std, feature_names: Sequence[str] | None = None, n_steps: int = 0):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.n_steps = int(n_steps)

    @property
    def num_features(self) -> int:
        return int(self.mean.shape[0])

    @staticmethod
    def _checked(sequences: Sequence[np.ndarray], n_features: int | None, where: str) -> list:
        out = [np.asarray(s, dtype=np.float64) for s in sequences]
        n_features = out[0].shape[-1] if out and n_features is None else n_features
        for i, s in enumerate(out):
            if s.ndim != 2 or s.shape[1] != n_features:
                fix = "pass (T, F) arrays with the features the normalizer is fitted on"
                expected = f"shape (T, {n_features})"
                raise data_error(f"{where} sequence {i}", expected, str(s.shape), fix)
        return out

    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], feature_names=None) -> Normalizer:
        """Fit on ``sequences`` (each ``(T_i, F)``, all finite) - the train split only."""
        seqs = cls._checked(sequences, None, "Normalizer.fit")
        if bad := [i for i, s in enumerate(seqs) if not np.isfinite(s).all()]:
            fix = "read the data with nan_policy='drop_steps' or 'zero'"
            raise data_error(f"Normalizer.fit sequence {bad[0]}", "finite values", "NaN/inf", fix)
        seqs = [s for s in seqs if len(s)]
        n = sum(len(s) for s in seqs)
        if n == 0:
            got = f"{len(sequences)} sequences, 0 time steps"
            raise data_error("Normalizer.fit", "at least one sequence", got, "pass the train split")
        # Two passes in float64, one sequence at a time (no concatenated copy).
        mean = sum(s.sum(axis=0) for s in seqs) / n
        var = sum(((s - mean) ** 2).sum(axis=0) for s in seqs) / n
        ends = np.concatenate([[s.min(axis=0), s.max(axis=0)] for s in seqs])
        std = np.where(np.ptp(ends, axis=0) == 0, 1.0, np.sqrt(var))  # constant feature: 1
        return cls(mean, std, feature_names, n_steps=n)

    def transform(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return standardised float32 copies of ``sequences`` (each ``(T_i, F)``)."""
        seqs = self._checked(sequences, self.num_features, "Normalizer.transform")
        return [((s - self.mean) / self.std).astype(np.float32) for s in seqs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain lists and numbers)."""
        mean, std = self.mean.tolist(), self.std.tolist()
        names, n = self.feature_names, self.n_steps
        return {"type": "standard", "mean": mean, "std": std, "feature_names": names, "n_steps": n}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild from :meth:`to_dict`; raises ArtifactError on a damaged state."""

        def bad(expected: str, got: str) -> ArtifactError:
            fix = "re-save the model artifact"
            return ArtifactError(format_error("normalizer state", expected, got, fix))

        if not isinstance(d, dict) or d.get("type") != "standard":
            raise bad("a dict with type 'standard'", repr(d)[:80])
        try:
            mean, std = (np.asarray(d[k], dtype=np.float64) for k in ("mean", "std"))
        except (KeyError, TypeError, ValueError) as exc:
            raise bad("numeric lists 'mean' and 'std'", f"{type(exc).__name__}: {exc}") from None
        if mean.ndim != 1 or mean.shape != std.shape:
            raise bad("'mean' and 'std' of equal length", f"{mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise bad("finite mean and positive finite std", "other values")
        names = d.get("feature_names")
        if names is not None and len(names) != mean.shape[0]:
            raise bad(f"{mean.shape[0]} feature names", f"{len(names)}")
        return cls(mean, std, names, n_steps=int(d.get("n_steps", 0)))


def fit_normalizer(dataset: SequenceDataset, split: str = "train") -> Normalizer:
    """Fit a :class:`Normalizer` on the sequences of ``dataset`` whose split is ``split``."""
    rows = [s for s, sp in zip(dataset.sequences, dataset.splits, strict=True) if sp == split]
    if not rows:
        got = f"split counts {dict(Counter(dataset.splits))}"
        fix = "read train and test (read_ts_pair), name the file *_TRAIN.ts, or pass split="
        where, expected = f"{dataset.source} splits", f"at least one sequence with split {split!r}"
        raise data_error(where, expected, got, fix)
    return Normalizer.fit(rows, dataset.feature_names)
