"""Inference from a saved artifact: ``padless.load(path).predict(inputs)``.

The :class:`Predictor` encodes inputs exactly as training did (the artifact's
:class:`~padless.pipeline.InputPipeline`), runs them in length-sorted batches (little padding),
and returns results in the caller's order. Inputs are strings (text models), token-id lists
(``ids`` models) or (T, F) numeric sequences (numeric models).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from padless.artifact import Artifact, load_artifact
from padless.batching import collate


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

    def encode_each(self, inputs: Sequence[Any], where: str = "input") -> list:
        """One id list / array per input, as the model sees it (before padding)."""
        return self.artifact.pipeline.encode(list(inputs), where=where)

    def encode(self, inputs: Sequence[Any], where: str = "input") -> tuple[np.ndarray, np.ndarray]:
        """``(inputs_array, lengths)``: the exact arrays the model and an exported graph take.

        ``inputs_array`` is int64 ids (B, T) (or (B, T, 2) with word + bigram ids) or float32
        features (B, T, F), right-padded with zeros to the longest input, in input order;
        ``lengths`` is int64 (B,).
        """
        batch = collate(self.encode_each(inputs, where))
        return batch.inputs.numpy(), batch.lengths.numpy()

    @torch.no_grad()
    def logits(self, inputs: Sequence[Any], where: str = "input") -> list[np.ndarray] | np.ndarray:
        """(N, C) raw scores in input order; for tagging a list of (T_i, C) arrays."""
        encoded = self.encode_each(inputs, where)
        order = np.argsort([len(x) for x in encoded], kind="stable")
        per_row: list[np.ndarray | None] = [None] * len(encoded)
        for start in range(0, len(encoded), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = collate([encoded[i] for i in rows])
            out = self.artifact.model(batch.inputs, batch.lengths).numpy()
            for k, i in enumerate(rows):
                per_row[i] = out[k, : int(batch.lengths[k])] if self.task == "tagging" else out[k]
        if self.task == "tagging":
            return per_row
        width = self.artifact.labels.num_outputs
        return np.stack(per_row) if per_row else np.zeros((0, width), np.float32)

    def _scores(self, logits: np.ndarray) -> list[dict[str, Any]]:
        names, t = self.labels, torch.from_numpy(np.asarray(logits, dtype=np.float32))
        if self.task == "regression":
            return [
                {"value": float(v[0]) if len(v) == 1 else [float(x) for x in v]} for v in t.tolist()
            ]
        if self.task == "binary":
            p = torch.sigmoid(t[:, 0])
            probs = torch.stack([1 - p, p], dim=-1)
        elif self.task in ("multiclass", "tagging"):
            probs = torch.softmax(t, dim=-1)
        else:
            probs = torch.sigmoid(t)
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

    def predict(self, inputs: Sequence[Any], where: str = "input") -> list[dict[str, Any]]:
        """One result per input: ``{"label", "scores"}`` (multi-label: ``"labels"`` with every
        label of probability ≥ 0.5; regression: ``"value"``; tagging: ``"tags"`` per step)."""
        logits = self.logits(inputs, where)
        if self.task == "tagging":
            return [{"tags": [r["label"] for r in self._scores(x)]} for x in logits]
        return self._scores(logits)


def load(path: str | Path, batch_size: int = 64) -> Predictor:
    """Load a model directory (``DIR/model``) written by ``padless train``."""
    return Predictor(load_artifact(path), batch_size=batch_size)
