"""Inference from a saved artifact: ``padless.load(path).predict(texts)``.

The :class:`Predictor` encodes inputs exactly as training did, runs them in length-sorted
batches (little padding), and returns results in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from padless.artifact import Artifact, load_artifact
from padless.batching import collate
from padless.errors import data_error


class Predictor:
    """Wraps a loaded artifact. ``labels`` lists label names in logit order."""

    def __init__(self, artifact: Artifact, batch_size: int = 64):
        self.artifact = artifact
        self.batch_size = batch_size

    @property
    def labels(self) -> list[str]:
        return list(self.artifact.labels.classes)

    @property
    def task(self) -> str:
        return self.artifact.labels.task

    def encode(self, inputs: Sequence[str], where: str = "input") -> list[list[int]]:
        if self.artifact.encoder is None:
            raise NotImplementedError(
                "numeric-input artifacts are predicted from arrays; this slice supports text models"
            )
        for i, text in enumerate(inputs):
            if not isinstance(text, str):
                raise data_error(
                    f"{where} row {i}", "a string", type(text).__name__, "pass texts as strings"
                )
        return self.artifact.encoder.encode_batch(list(inputs), where=where)

    @torch.no_grad()
    def logits(self, inputs: Sequence[str], where: str = "input") -> np.ndarray:
        """(N, C) raw scores, in input order."""
        ids = self.encode(inputs, where)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(ids), self.artifact.labels.num_outputs), dtype=np.float32)
        for start in range(0, len(ids), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = collate([ids[i] for i in rows])
            out[rows] = self.artifact.model(batch.inputs, batch.lengths).numpy()
        return out

    def predict(self, inputs: Sequence[str], where: str = "input") -> list[dict[str, Any]]:
        """One ``{"label": ..., "scores": {label: probability}}`` per input (multi-label:
        ``"labels"`` lists every label with probability ≥ 0.5)."""
        logits = torch.from_numpy(self.logits(inputs, where))
        names = self.labels
        if self.task == "binary":
            p = torch.sigmoid(logits[:, 0])
            probs = torch.stack([1 - p, p], dim=-1)
        elif self.task == "multiclass":
            probs = torch.softmax(logits, dim=-1)
        else:
            probs = torch.sigmoid(logits)
        results = []
        for row in probs.tolist():
            scores = {n: round(float(s), 6) for n, s in zip(names, row, strict=True)}
            if self.task == "multilabel":
                results.append(
                    {"labels": [n for n, s in scores.items() if s >= 0.5], "scores": scores}
                )
            else:
                results.append({"label": max(scores, key=scores.get), "scores": scores})
        return results


def load(path: str | Path, batch_size: int = 64) -> Predictor:
    """Load a model directory (``DIR/model``) written by ``padless train``."""
    return Predictor(load_artifact(path), batch_size=batch_size)
