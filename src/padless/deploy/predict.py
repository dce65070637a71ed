"""Inference from a saved artifact: ``padless.load(path).predict(inputs)``.

The :class:`Predictor` encodes inputs exactly as training did (the artifact's
:class:`~padless.encode.pipeline.InputPipeline`), runs them in length-sorted batches (little
padding), and returns results in the caller's order. Inputs are strings (text models),
token-id lists (``ids`` models) or (T, F) numeric sequences (numeric models).

Shapes: B batch, T time steps (padded length), F input features per step, K ids per step,
C outputs. Everything here works on numpy arrays, and PyTorch is imported only by the
``eager`` and ``torchscript`` backends (:mod:`padless.deploy.backends`): with
``backend="onnx"`` a predictor needs numpy, tokenizers and onnxruntime alone (the ``[edge]``
install, see the README). :func:`padless.deploy.inputs.read_inputs` streams a large input
file in chunks for ``padless predict``; :func:`read_long_inputs` reads a long table (one row
per time step) into the sequences of a model trained on one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padless.deploy.artifact import (
    Artifact,
    load_artifact,
)
from padless.deploy.backends import Runner, backend_runner, check_backend
from padless.errors import ArtifactError, data_error, format_error


def pad(encoded: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad encoded inputs with zeros: ``(inputs, lengths)``, in the given order.

    ``inputs`` is int64 ids (B, T) (or (B, T, K) with K ids per step) or float32 features
    (B, T, F); ``lengths`` is int64 (B,). T is the longest length.
    """
    if len(encoded) == 0:
        raise data_error("inputs", "at least one input", "an empty list", "pass one or more")
    arrays = [np.asarray(x) for x in encoded]
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    if lengths.min() == 0:
        raise data_error(
            f"input row {int(np.argmin(lengths))}",
            "at least one step",
            "an empty sequence",
            "remove empty inputs",
        )
    dtype = np.float32 if arrays[0].dtype.kind == "f" else np.int64
    out = np.zeros((len(arrays), int(lengths.max()), *arrays[0].shape[1:]), dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


class Predictor:
    """Wraps a loaded artifact. ``labels`` lists label names in logit order.

    ``backend="eager"`` runs the PyTorch model; ``"onnx"`` runs an ONNX file written by
    ``padless export`` (default ``DIR/model.onnx``) in ONNX Runtime with ``threads`` intra-op
    threads (default: ONNX Runtime's, one per core), ``"torchscript"`` a TorchScript archive
    (default ``DIR/model-torchscript.pt``), each after checking that it was exported from
    this artifact's weights. All take the same padded arrays (:meth:`encode`).
    """

    def __init__(
        self,
        artifact: Artifact,
        batch_size: int = 64,
        backend: str = "eager",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
    ):
        self.artifact = artifact
        self.batch_size = batch_size
        self.backend = backend
        self.run: Runner = backend_runner(artifact, backend, onnx_path, threads)

    @property
    def labels(self) -> list[str]:
        return list(self.artifact.labels.classes)

    @property
    def task(self) -> str:
        return self.artifact.labels.task

    def encode_each(
        self,
        inputs: Sequence[Any],
        where: str = "input",
        offset: int = 0,
        *,
        limit: int | None = None,
        cut: bool = True,
    ) -> list:
        """One id list / array per input, as the model sees it (before padding). Errors name
        the row as ``offset`` + its index (for inputs read in chunks). ``limit`` / ``cut``: see
        :meth:`padless.encode.pipeline.InputPipeline.encode`."""
        rows = range(offset, offset + len(inputs)) if offset else None
        return self.artifact.pipeline.encode(
            list(inputs), where=where, rows=rows, limit=limit, cut=cut
        )

    def encode(self, inputs: Sequence[Any], where: str = "input") -> tuple[np.ndarray, np.ndarray]:
        """``(inputs_array, lengths)``: the exact arrays the model and an exported graph take
        (see :func:`pad`), in input order."""
        return pad(self.encode_each(inputs, where))

    def logits(
        self, inputs: Sequence[Any], where: str = "input", offset: int = 0
    ) -> list[np.ndarray] | np.ndarray:
        """(N, C) raw scores in input order; for tagging a list of (T_i, C) arrays."""
        encoded = self.encode_each(inputs, where, offset)
        order = np.argsort([len(x) for x in encoded], kind="stable")
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(encoded), self.batch_size):
            rows = order[start : start + self.batch_size]
            x, lengths = pad([encoded[i] for i in rows])
            out = self.run(x, lengths)
            for k, i in enumerate(rows):
                found[int(i)] = out[k, : int(lengths[k])] if self.task == "tagging" else out[k]
        per_row = [found[i] for i in range(len(encoded))]
        if self.task == "tagging":
            return per_row
        width = self.artifact.labels.num_outputs
        return np.stack(per_row) if per_row else np.zeros((0, width), np.float32)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits (N, C) → probabilities: softmax (multi-class, tagging), sigmoid per label
        (multi-label), [1 - p, p] with p = sigmoid (binary; (N, 2))."""
        t = np.asarray(logits, dtype=np.float64)
        if self.task == "binary":
            p = _sigmoid(t[:, 0])
            return np.stack([1 - p, p], axis=-1)
        if self.task in ("multiclass", "tagging"):
            e = np.exp(t - t.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return _sigmoid(t)

    def results(self, logits: np.ndarray) -> list[dict[str, Any]]:
        """Logit rows (N, C) → one result dict each (see :meth:`predict`); for tagging, pass
        one sequence's (T, C) rows and get one result per step."""
        names = self.labels
        if self.task == "regression":
            rows = np.asarray(logits, dtype=np.float32).reshape(len(logits), -1).tolist()
            if len(names) == 1:
                return [{"value": float(v[0])} for v in rows]
            return [{"values": dict(zip(names, map(float, v), strict=True))} for v in rows]
        results: list[dict[str, Any]] = []
        for row in self.probabilities(logits).tolist():
            scores = {n: round(float(s), 6) for n, s in zip(names, row, strict=True)}
            if self.task == "multilabel":
                results.append(
                    {"labels": [n for n, s in scores.items() if s >= 0.5], "scores": scores}
                )
            else:
                results.append({"label": max(scores, key=scores.__getitem__), "scores": scores})
        return results

    def predict(
        self, inputs: Sequence[Any], where: str = "input", offset: int = 0
    ) -> list[dict[str, Any]]:
        """One result per input: ``{"label", "scores"}`` (multi-label: ``"labels"`` with every
        label of probability ≥ 0.5; regression: ``"value"``, or ``"values"`` by target name
        for several targets; tagging: ``"tags"`` per step)."""
        logits = self.logits(inputs, where, offset)
        if isinstance(logits, list):  # tagging: one (T_i, C) array per input
            return [{"tags": [r["label"] for r in self.results(x)]} for x in logits]
        return self.results(logits)


def read_long_inputs(
    path: str | Path, data: Mapping[str, Any], feature_names: Sequence[str]
) -> tuple[list[str], list[np.ndarray]]:
    """The sequence ids and float32 (T_i, F) sequences of a long table (one row per time step)
    to predict, read as ``data`` (the ``[data]`` settings: ``id_column``, ``step_column``,
    ``format``, ``nan_policy``, ...) says, from the model's ``feature_names`` columns only
    (label and split columns are ignored). Every id gets one sequence: none is skipped."""
    from padless.data.long_table import read_long_table

    ds = read_long_table(
        path,
        id_column=str(data.get("id_column") or "id"),
        label_column=None,
        step_column=data.get("step_column"),
        feature_columns=list(feature_names),
        format=data.get("format"),
        nan_policy=str(data.get("nan_policy") or "raise"),
        skip_bad_rows=bool(data.get("skip_bad_rows", False)),
        check_multiline=bool(data.get("check_multiline", True)),
    )
    return ds.ids, ds.sequences


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def load(
    path: str | Path,
    batch_size: int = 64,
    backend: str = "eager",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
) -> Predictor:
    """Load a model directory (``DIR/model``) written by ``padless train``. The ONNX backend
    does not build the PyTorch model (nor import torch)."""
    check_backend(backend)
    if backend != "onnx":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ArtifactError(
                format_error(
                    f"backend {backend}",
                    "PyTorch installed",
                    "not installed (a torch-free [edge] install?)",
                    "use --backend onnx with an ONNX export, or install torch",
                )
            ) from None
    artifact = load_artifact(path, model=backend != "onnx")
    return Predictor(artifact, batch_size, backend, onnx_path, threads)
