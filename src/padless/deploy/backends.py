"""The backends a :class:`~padless.deploy.predict.Predictor` runs: eager, ONNX Runtime, TorchScript.

Shapes: B batch, T time steps (padded length), F input features per step, K ids per step,
C outputs. :func:`backend_runner` returns one ``(inputs, lengths) -> logits`` function on numpy
arrays whatever the backend: the artifact's PyTorch model (``eager``), or an exported file
(``onnx``, ``torchscript``; by default in the artifact directory) after checking it.

An exported file inside the artifact directory must be listed in its manifest: its bytes are
read once, checked against the recorded sha256 and handed to the runtime from memory, so what
runs is what was checked (a symlink or an unlisted file is refused). A file outside the
directory (``--export-file``) is the caller's choice: no manifest covers it, so a warning says
so, and only its stamp, the sha256 of the weights it was exported from, is checked. Every file
must carry the stamp of the artifact's weights. Only ``eager`` and ``torchscript`` import
torch: the ONNX backend needs numpy and onnxruntime alone (the torch-free ``[edge]`` install).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from padless.deploy.artifact import (
    DEFAULT_NAMES,
    WEIGHTS_KEY,
    Artifact,
    weights_digest,
)
from padless.deploy.manifest import read_manifest
from padless.errors import ArtifactError, format_error

logger = logging.getLogger(__name__)

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
    path, data = _exported_file(artifact, onnx_path, "onnx")
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
        session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ArtifactError(
            format_error(str(path), "a valid ONNX model", f"an unreadable file ({exc})", None)
        ) from None
    stamped = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_KEY)
    _check_stamp(path, stamped, artifact)
    return session


def _exported_file(artifact: Artifact, path: str | Path | None, fmt: str) -> tuple[Path, bytes]:
    """``path`` (default: where ``padless export --format fmt`` writes) and its bytes, checked
    against the manifest when the file is in the artifact directory; a file elsewhere is read
    as it is, with a warning (the caller checks its stamp either way)."""
    d = artifact.path
    path = Path(path) if path is not None else d / DEFAULT_NAMES[fmt]
    export = f"`padless export {d} --format {fmt} --out {path}`"
    if not path.exists() and not path.is_symlink():
        raise ArtifactError(
            format_error(
                str(path), f"a {fmt} file exported from this model", "no such file", f"run {export}"
            )
        )
    if path.parent.resolve() == d.resolve():
        return path, read_manifest(d).read_export(path.name, fix=f"re-export it: {export}")
    logger.warning(
        "%s is outside the model directory %s: not covered by its manifest, so only its "
        "weights stamp is checked",
        path,
        d,
    )
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise ArtifactError(
            format_error(str(path), f"a readable {fmt} file", f"an error ({exc.strerror})", None)
        ) from None


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
    pickled Python objects (from the checked bytes in memory); the stamp check runs before the
    module is used."""
    import warnings

    import torch

    path, data = _exported_file(artifact, path, "torchscript")
    extra = {"padless.json": ""}
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in torch >= 2.10; it works
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
        stamped = json.loads(extra["padless.json"] or "{}").get(WEIGHTS_KEY)
    except (RuntimeError, ValueError) as exc:
        raise ArtifactError(
            format_error(str(path), "a TorchScript archive", f"an unreadable file ({exc})", None)
        ) from None
    _check_stamp(path, stamped, artifact)
    return module.eval()
