"""Inference from a saved artifact: ``padless.load(path).predict(inputs)``.

The :class:`Predictor` encodes inputs exactly as training did (the artifact's
:class:`~padless.pipeline.InputPipeline`), runs them in length-sorted batches (little
padding), and returns results in the caller's order. Inputs are strings (text models),
token-id lists (``ids`` models) or (T, F) numeric sequences (numeric models).

Shapes: B batch, T padded time, F features, C outputs. Everything here works on numpy arrays,
and PyTorch is imported only by the ``eager`` and ``torchscript`` backends: with
``backend="onnx"`` a predictor needs numpy, tokenizers and onnxruntime alone (the ``[edge]``
install, see the README). :func:`read_inputs` streams a large input file in chunks for
``padless predict``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from padless.artifact import DEFAULT_NAMES, WEIGHTS_KEY, Artifact, load_artifact, weights_digest
from padless.errors import ArtifactError, data_error, format_error

BACKENDS = ("eager", "onnx", "torchscript")
Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (inputs, lengths) -> logits


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
        :meth:`padless.pipeline.InputPipeline.encode`."""
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
        per_row: list[np.ndarray | None] = [None] * len(encoded)
        for start in range(0, len(encoded), self.batch_size):
            rows = order[start : start + self.batch_size]
            x, lengths = pad([encoded[i] for i in rows])
            out = self.run(x, lengths)
            for k, i in enumerate(rows):
                per_row[i] = out[k, : int(lengths[k])] if self.task == "tagging" else out[k]
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
            return [
                {"value": float(v[0]) if len(v) == 1 else [float(x) for x in v]}
                for v in np.asarray(logits, dtype=np.float32).tolist()
            ]
        results = []
        for row in self.probabilities(logits).tolist():
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
            return [{"tags": [r["label"] for r in self.results(x)]} for x in logits]
        return self.results(logits)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ArtifactError(
            format_error("backend", f"one of {', '.join(BACKENDS)}", repr(backend), None)
        )


def load(
    path: str | Path,
    batch_size: int = 64,
    backend: str = "eager",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
) -> Predictor:
    """Load a model directory (``DIR/model``) written by ``padless train``. The ONNX backend
    does not build the PyTorch model (nor import torch)."""
    _check_backend(backend)
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


def backend_runner(
    artifact: Artifact,
    backend: str = "eager",
    path: str | Path | None = None,
    threads: int | None = None,
) -> Runner:
    """``(inputs, lengths) -> logits`` on numpy arrays for ``backend``: the artifact's PyTorch
    model, or the exported file ``path`` (default in the artifact directory), checked to come
    from the artifact's weights."""
    _check_backend(backend)
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


# ------------------------------------------------------------------------ streamed input files


def read_inputs(
    source: str, chunk_size: int = 4096, progress: Callable[[int], Any] | None = None
) -> Iterator[tuple[int, list, str]]:
    """Stream ``(offset, inputs, where)`` chunks of at most ``chunk_size`` inputs from a file
    or ``-`` (stdin), reading line by line so memory stays flat however large the input.

    Plain lines are one text each (empty lines are refused); ``.jsonl`` files, or input whose
    first non-empty line starts with ``{``, give each line's ``text`` or ``inputs`` field (a
    string, or a numeric / token-id sequence; blank lines are skipped). ``offset`` is the
    0-based input number of the chunk's first input; errors name the file and line.
    ``progress(n)`` is called with the bytes read for each chunk.
    """
    if source == "-":
        stream, where, close = sys.stdin.buffer, "<stdin>", False
    else:
        if not Path(source).is_file():
            raise data_error(
                source,
                "an existing input file",
                "no such file",
                "check the path, or pass --input - to read stdin",
            )
        stream, where, close = open(source, "rb"), source, True  # noqa: SIM115
    try:
        yield from _chunks(stream, where, source.endswith(".jsonl"), chunk_size, progress)
    finally:
        if close:
            stream.close()


def _chunks(
    stream: BinaryIO, where: str, jsonl: bool | None, size: int, progress
) -> Iterator[tuple[int, list, str]]:
    chunk: list = []
    offset = nbytes = 0
    jsonl = jsonl or None  # None: decided by the first non-empty line
    for n, raw in enumerate(stream, start=1):
        nbytes += len(raw)
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise data_error(
                f"{where} line {n}", "UTF-8 text", "invalid UTF-8 bytes", "re-encode as UTF-8"
            ) from None
        if jsonl is None and line.strip():
            jsonl = line.lstrip().startswith("{")
        if not line.strip():
            if jsonl:
                continue
            raise data_error(
                f"{where} line {n}",
                "one non-empty text per line",
                "an empty line",
                "remove empty lines",
            )
        chunk.append(_json_input(line, where, n) if jsonl else line)
        if len(chunk) == size:
            yield offset, chunk, where
            offset, chunk = offset + len(chunk), []
            if progress is not None:
                progress(nbytes)
                nbytes = 0
    if chunk:
        yield offset, chunk, where
    if progress is not None and nbytes:
        progress(nbytes)


def _json_input(line: str, where: str, n: int) -> Any:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise data_error(
            f"{where} line {n}",
            'a JSON object like {"text": "..."}',
            repr(line[:60]),
            "fix that line",
        ) from None
    value = obj.get("text", obj.get("inputs")) if isinstance(obj, dict) else None
    if not isinstance(value, (str, list)):
        raise data_error(
            f"{where} line {n}",
            'an object with a "text" string or an "inputs" sequence',
            repr(line[:60]),
            'write {"text": "..."} or {"inputs": [[0.1, 2.0], ...]}',
        )
    return value
