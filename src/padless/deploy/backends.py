"""The backends a :class:`~padless.deploy.predict.Predictor` runs: eager, ONNX Runtime, TorchScript.

Shapes: B batch, T time steps (padded length), F input features per step, K ids per step,
C outputs. :func:`backend_runner` returns one ``(inputs, lengths) -> logits`` function on numpy
arrays whatever the backend: the artifact's PyTorch model (``eager``), or an exported file
(``onnx``, ``torchscript``; by default in the artifact directory) after checking that its
stamp names the artifact's weights. Only ``eager`` and ``torchscript`` import torch: the ONNX
backend needs numpy and onnxruntime alone (the torch-free ``[edge]`` install).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from padless.deploy.artifact import (
    DEFAULT_NAMES,
    WEIGHTS_KEY,
    Artifact,
    weights_digest,
)
from padless.errors import ArtifactError, format_error

BACKENDS = ("eager", "onnx", "torchscript")


Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (inputs, lengths) -> logits


def check_backend(backend: str) -> None:
    """Refuse a backend name that is not one of :data:`BACKENDS` (:class:`ArtifactError`)."""
    if backend not in BACKENDS:
        raise ArtifactError(
            format_error("backend", f"one of {', '.join(BACKENDS)}", repr(backend), None)
        )


def backend_runner(
    artifact: Artifact,
    backend: str = "eager",
    path: str | Path | None = None,
    threads: int | None = None,
) -> Runner:
    """``(inputs, lengths) -> logits`` on numpy arrays for ``backend``: the artifact's PyTorch
    model, or the exported file ``path`` (default in the artifact directory), checked to come
    from the artifact's weights."""
    check_backend(backend)
    if backend == "onnx":
        session = onnx_session(artifact, path, threads)
        return lambda x, lengths: session.run(None, {"inputs": x, "lengths": lengths})[0]
    if backend == "torchscript":
        return _torch_runner(_torchscript_module(artifact, path))
    if artifact.model is None:
        raise ArtifactError(
            format_error(
                str(artifact.path),
                "an artifact loaded with its model",
                "load_artifact(..., model=False)",
                "load it with model=True for the eager backend",
            )
        )
    return _torch_runner(artifact.model)


def _torch_runner(module) -> Runner:
    import torch

    def run(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(x), torch.from_numpy(lengths))
        return out.float().cpu().numpy()

    return run


def onnx_session(artifact: Artifact, onnx_path: str | Path | None, threads: int | None = None):
    """An ONNX Runtime CPU session for ``onnx_path`` (default ``DIR/model.onnx``) with
    ``threads`` intra-op threads, refusing a file exported from other weights."""
    path = _exported_file(artifact, onnx_path, "onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArtifactError(
            format_error(
                "backend onnx",
                "onnxruntime installed",
                "not installed",
                'pip install "padless[onnx]" (or the torch-free [edge] install)',
            )
        ) from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ArtifactError(
            format_error(str(path), "a valid ONNX model", f"an unreadable file ({exc})", None)
        ) from None
    stamped = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_KEY)
    _check_stamp(path, stamped, artifact)
    return session


def _exported_file(artifact: Artifact, path: str | Path | None, fmt: str) -> Path:
    """``path``, or where ``padless export --format fmt`` writes by default; it must exist."""
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
    import warnings

    import torch

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
