"""The self-describing model directory everything downstream rebuilds from.

Layout of ``DIR/model/``::

    model.safetensors   weights (no pickle anywhere)
    config.json         padless version, model hyper-parameters, input kind
    labels.json         task and label names in logit order
    text.json + vocab.json | tokenizer.json   the text pipeline (text models)
    bigrams.json        kept bigram id pairs (text models with text.ngrams = 2)
    normalizer.json     feature statistics of the train split (numeric models)
    metrics.json        metrics of the run that produced it (optional)
    manifest.json       sha256 of every file above
    model.onnx, model-int8.onnx, model-torchscript.pt   optional, written by ``padless export``
                        and stamped with the sha256 of the weights they came from

Loading checks the manifest first, so a tampered or truncated file is refused before it is read.
``load_artifact(d, model=False)`` reads everything but the network and needs no PyTorch: what
the ONNX backend of :mod:`padless.deploy.predict` runs on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from padless import __version__
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.errors import ArtifactError, ConfigError, format_error, read_saved_json

if TYPE_CHECKING:
    from padless.models.classifier import SequenceClassifier

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"
SAVE_FIX = "re-save the model"
# Exported files padless looks for in the artifact directory, by `padless export --format`.
DEFAULT_NAMES = {
    "onnx": "model.onnx",
    "onnx-int8": "model-int8.onnx",
    "torchscript": "model-torchscript.pt",
}
WEIGHTS_KEY = "padless.weights_sha256"  # export metadata: the artifact weights it came from


@dataclass
class Artifact:
    """A loaded model directory: the network (eval mode; None when loaded with
    ``model=False``), its input pipeline and label space."""

    model: SequenceClassifier | None
    labels: LabelSpace
    pipeline: InputPipeline
    meta: dict[str, Any]
    path: Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_artifact(
    directory: str | Path,
    model: SequenceClassifier,
    model_kwargs: dict[str, Any],
    labels: LabelSpace,
    pipeline: InputPipeline,
    metrics: dict[str, Any] | None = None,
    data_config: dict[str, Any] | None = None,
) -> Path:
    """Write the artifact to ``directory`` (created) and return it. ``data_config`` (the
    training ``[data]`` table) lets ``padless evaluate`` read new data the same way."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(d / WEIGHTS), metadata={"format": "pt", "padless": __version__})
    meta = {
        "padless_version": __version__,
        "format_version": FORMAT_VERSION,
        "architecture": "SequenceClassifier",
        "model": model_kwargs,
        "input": pipeline.kind,
        "pipeline": pipeline.to_dict(),
        "data": data_config,
    }
    (d / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (d / "labels.json").write_text(json.dumps(labels.to_dict(), indent=2), encoding="utf-8")
    pipeline.save(d)
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    files = sorted(p.name for p in d.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {"padless_version": __version__, "files": {n: _sha256(d / n) for n in files}}
    (d / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    logger.info("saved model artifact to %s", d)
    return d


def verify_manifest(d: Path) -> dict[str, Any]:
    """Check every file listed in ``manifest.json`` against its sha256."""
    if not (d / MANIFEST).is_file():
        raise ArtifactError(
            format_error(
                str(d),
                f"a model directory with {MANIFEST}",
                "no manifest" if d.is_dir() else "no such directory",
                "point at DIR/model written by `padless train`",
            )
        )
    manifest = read_saved_json(d / MANIFEST, "a JSON manifest", fix=SAVE_FIX)
    for name, digest in manifest.get("files", {}).items():
        path = d / name
        if not path.is_file():
            raise ArtifactError(
                format_error(
                    str(path),
                    "a file listed in the manifest",
                    "missing",
                    "copy the whole model directory",
                )
            )
        actual = _sha256(path)
        if actual != digest:
            raise ArtifactError(
                format_error(
                    str(path),
                    f"sha256 {digest}",
                    f"sha256 {actual}",
                    "the file was changed or corrupted; restore the original model directory",
                )
            )
    return manifest


def weights_digest(directory: str | Path) -> str:
    """The sha256 of an artifact's weights, as its manifest records it."""
    manifest = read_saved_json(Path(directory) / MANIFEST, "a JSON manifest", fix=SAVE_FIX)
    return manifest["files"][WEIGHTS]


def load_artifact(directory: str | Path, model: bool = True) -> Artifact:
    """Load and verify a model directory. Weights come from safetensors: nothing is unpickled.

    ``model=False`` skips building the network (and importing PyTorch): the manifest, config,
    labels and input pipeline are still read and checked.
    """
    d = Path(directory)
    verify_manifest(d)
    meta = read_saved_json(d / "config.json", "the model settings", fix=SAVE_FIX)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            format_error(
                str(d / "config.json"),
                f"artifact format version {FORMAT_VERSION}",
                f"version {meta.get('format_version')!r} (written by "
                f"padless {meta.get('padless_version')})",
                "load it with the padless version that wrote it, or re-train",
            )
        )
    labels = read_saved_json(d / "labels.json", "the label names", LabelSpace.from_dict, SAVE_FIX)
    pipeline = InputPipeline.load(d, meta)
    net = _load_model(d, meta) if model else None
    return Artifact(model=net, labels=labels, pipeline=pipeline, meta=meta, path=d)


def _load_model(d: Path, meta: dict[str, Any]) -> SequenceClassifier:
    from safetensors.torch import load_file

    from padless.models.classifier import build_model

    try:
        model = build_model(meta["model"], where=f"{d / 'config.json'} 'model'")
    except ConfigError as exc:
        raise ArtifactError(f"{exc}. Fix: {SAVE_FIX}") from None
    try:
        state = load_file(str(d / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types
        raise ArtifactError(
            format_error(
                str(d / WEIGHTS),
                "a safetensors weights file",
                f"unreadable ({exc})",
                "re-save the model",
            )
        ) from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ArtifactError(
            format_error(
                str(d / WEIGHTS),
                "weights matching config.json",
                f"missing {missing[:5]}, unexpected {unexpected[:5]}",
                "re-save the model",
            )
        )
    return model.eval()
