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
from torch import nn

from padless.artifact import Artifact, load_artifact
from padless.batching import collate
from padless.errors import ArtifactError, format_error

BACKENDS = ("eager", "onnx", "torchscript")


class Predictor:
    """Wraps a loaded artifact. ``labels`` lists label names in logit order.

    ``backend="eager"`` runs the PyTorch model; ``"onnx"`` runs an ONNX file written by
    ``padless export`` (default ``DIR/model.onnx``) in ONNX Runtime, ``"torchscript"`` a
    TorchScript archive (default ``DIR/model-torchscript.pt``), each after checking that it was
    exported from this artifact's weights. All take the same padded arrays.
    """

    def __init__(
        self,
        artifact: Artifact,
        batch_size: int = 64,
        backend: str = "eager",
        onnx_path: str | Path | None = None,
    ):
        self.artifact = artifact
        self.batch_size = batch_size
        self.backend = backend
        self.module = backend_module(artifact, backend, onnx_path)

    @property
    def labels(self) -> list[str]:
        return list(self.artifact.labels.classes)

    @property
    def task(self) -> str:
        return self.artifact.labels.task

    def encode_each(self, inputs: Sequence[Any], where: str = "input", offset: int = 0) -> list:
        """One id list / array per input, as the model sees it (before padding). Errors name
        the row as ``offset`` + its index (for inputs read in chunks)."""
        rows = range(offset, offset + len(inputs)) if offset else None
        return self.artifact.pipeline.encode(list(inputs), where=where, rows=rows)

    def encode(self, inputs: Sequence[Any], where: str = "input") -> tuple[np.ndarray, np.ndarray]:
        """``(inputs_array, lengths)``: the exact arrays the model and an exported graph take.

        ``inputs_array`` is int64 ids (B, T) (or (B, T, 2) with word + bigram ids) or float32
        features (B, T, F), right-padded with zeros to the longest input, in input order;
        ``lengths`` is int64 (B,).
        """
        batch = collate(self.encode_each(inputs, where))
        return batch.inputs.numpy(), batch.lengths.numpy()

    @torch.no_grad()
    def logits(
        self, inputs: Sequence[Any], where: str = "input", offset: int = 0
    ) -> list[np.ndarray] | np.ndarray:
        """(N, C) raw scores in input order; for tagging a list of (T_i, C) arrays."""
        encoded = self.encode_each(inputs, where, offset)
        order = np.argsort([len(x) for x in encoded], kind="stable")
        per_row: list[np.ndarray | None] = [None] * len(encoded)
        for start in range(0, len(encoded), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = collate([encoded[i] for i in rows])
            out = self._run(batch.inputs, batch.lengths)
            for k, i in enumerate(rows):
                per_row[i] = out[k, : int(batch.lengths[k])] if self.task == "tagging" else out[k]
        if self.task == "tagging":
            return per_row
        width = self.artifact.labels.num_outputs
        return np.stack(per_row) if per_row else np.zeros((0, width), np.float32)

    def _run(self, inputs: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        return self.module(inputs, lengths).numpy()

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

    def predict(
        self, inputs: Sequence[Any], where: str = "input", offset: int = 0
    ) -> list[dict[str, Any]]:
        """One result per input: ``{"label", "scores"}`` (multi-label: ``"labels"`` with every
        label of probability ≥ 0.5; regression: ``"value"``; tagging: ``"tags"`` per step)."""
        logits = self.logits(inputs, where, offset)
        if self.task == "tagging":
            return [{"tags": [r["label"] for r in self._scores(x)]} for x in logits]
        return self._scores(logits)


def load(
    path: str | Path,
    batch_size: int = 64,
    backend: str = "eager",
    onnx_path: str | Path | None = None,
) -> Predictor:
    """Load a model directory (``DIR/model``) written by ``padless train``."""
    return Predictor(
        load_artifact(path), batch_size=batch_size, backend=backend, onnx_path=onnx_path
    )


class OnnxModule(nn.Module):
    """An ONNX Runtime session behind the model's call: ``(inputs, lengths) -> logits``."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feeds = {"inputs": inputs.cpu().numpy(), "lengths": lengths.cpu().numpy()}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def backend_module(
    artifact: Artifact, backend: str = "eager", path: str | Path | None = None
) -> nn.Module:
    """The callable ``(inputs, lengths) -> logits`` of ``backend`` for ``artifact``: its
    PyTorch model, or the exported file ``path`` (default in the artifact directory), checked
    to come from the artifact's weights."""
    if backend not in BACKENDS:
        raise ArtifactError(
            format_error("backend", f"one of {', '.join(BACKENDS)}", repr(backend), None)
        )
    if backend == "onnx":
        return OnnxModule(_onnx_session(artifact, path))
    if backend == "torchscript":
        return _torchscript_module(artifact, path)
    return artifact.model


def _onnx_session(artifact: Artifact, onnx_path: str | Path | None):
    """An ONNX Runtime session for ``onnx_path`` (default ``DIR/model.onnx``), refusing a file
    exported from other weights than the artifact's."""
    from padless.export import WEIGHTS_KEY

    path = _exported_file(artifact, onnx_path, "onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArtifactError(
            format_error(
                "backend onnx",
                "onnxruntime installed",
                "not installed",
                'pip install "padless[onnx]"',
            )
        ) from None
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ArtifactError(
            format_error(str(path), "a valid ONNX model", f"an unreadable file ({exc})", None)
        ) from None
    stamped = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_KEY)
    _check_stamp(path, stamped, artifact)
    return session


def _exported_file(artifact: Artifact, path: str | Path | None, fmt: str) -> Path:
    """``path``, or where ``padless export --format fmt`` writes by default; it must exist."""
    from padless.export import DEFAULT_NAMES

    path = Path(path) if path is not None else artifact.path / DEFAULT_NAMES[fmt]
    if not path.is_file():
        raise ArtifactError(
            format_error(
                str(path),
                f"a {fmt} file exported from this model",
                "no such file",
                f"run `padless export {artifact.path} --format {fmt} --out {path}`",
            )
        )
    return path


def _check_stamp(path: Path, stamped: str | None, artifact: Artifact) -> None:
    from padless.export import weights_digest

    expected = weights_digest(artifact.path)
    if stamped != expected:
        raise ArtifactError(
            format_error(
                str(path),
                f"an export of these weights (sha256 {expected[:12]}…)",
                f"an export of {'sha256 ' + stamped[:12] + '…' if stamped else 'unknown weights'}",
                f"re-export it: padless export {artifact.path} --out {path}",
            )
        )


def _torchscript_module(artifact: Artifact, path: str | Path | None):
    """The TorchScript archive ``path`` (default ``DIR/model-torchscript.pt``), refusing one
    exported from other weights. ``torch.jit.load`` reads TorchScript code and tensors, not
    pickled Python objects; the stamp check runs before the module is used."""
    import json
    import warnings

    from padless.export import WEIGHTS_KEY

    path = _exported_file(artifact, path, "torchscript")
    extra = {"padless.json": ""}
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in torch >= 2.10; it works
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        stamped = json.loads(extra["padless.json"] or "{}").get(WEIGHTS_KEY)
    except (RuntimeError, ValueError) as exc:
        raise ArtifactError(
            format_error(str(path), "a TorchScript archive", f"an unreadable file ({exc})", None)
        ) from None
    _check_stamp(path, stamped, artifact)
    return module.eval()
