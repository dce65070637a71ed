"""The self-describing model directory everything downstream rebuilds from.

Layout of ``DIR/model/``::

    model.safetensors   weights (no pickle anywhere)
    config.json         padless version, model hyper-parameters, input kind
    labels.json         task and label names in logit order
    text.json + vocab.json | tokenizer.json   the text pipeline (text models)
    bigrams.json        kept bigram id pairs (text models with text.ngrams = 2)
    normalizer.json     feature statistics of the train split (numeric models)
    metrics.json        metrics of the run that produced it (optional)
    manifest.json       sha256 of every file above (:mod:`padless.deploy.manifest`)
    model.onnx, model-int8.onnx, model-torchscript.pt   optional, written by ``padless export``,
                        added to the manifest and stamped with the sha256 of their weights

Loading trusts nothing it has not checked. The manifest comes first: every file read must be
listed there and match its digest (a file it does not list is never read). ``config.json`` is
then checked against its schema (known keys and types, sizes ≥ 1), and the sizes it declares,
the vocabulary and the label names are compared with the tensor shapes in the safetensors
header (read alone, capped in size) before any network is built, so a forged size cannot make
the loader allocate memory and a vocabulary with more ids than the embedding has rows cannot
load. With PyTorch, a skeleton of the network built on the ``meta`` device (no memory) is
compared tensor by tensor with the header before the real one is built. The checks against
the weights are :mod:`padless.deploy.weights`.

``load_artifact(d, model=False)`` reads everything but the network and needs no PyTorch: what
the ONNX backend of :mod:`padless.deploy.predict` runs on.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from padless import __version__
from padless.config import config_from_dict
from padless.deploy.manifest import MANIFEST, read_manifest, verify_manifest, write_manifest
from padless.deploy.weights import (
    CONFIG,
    LABELS,
    SAVE_FIX,
    WEIGHTS,
    Shapes,
    check_network,
    check_sizes,
    weight_shapes,
)
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.errors import ArtifactError, ConfigError, format_error, read_saved_json
from padless.models.names import PATH_KINDS, TASKS

if TYPE_CHECKING:
    from padless.models.classifier import SequenceClassifier

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_NAMES",
    "FORMAT_VERSION",
    "MANIFEST",
    "WEIGHTS",
    "WEIGHTS_KEY",
    "Artifact",
    "load_artifact",
    "save_artifact",
    "verify_manifest",
    "weight_shapes",
    "weights_digest",
]

FORMAT_VERSION = 1
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


def _input_files(kind: str, normalized: bool, tokenizer: str, ngrams: int) -> list[str]:
    """The files of the input pipeline (see :meth:`InputPipeline.save`)."""
    if kind == "text":
        names = ["text.json", "vocab.json" if tokenizer == "word" else "tokenizer.json"]
        return names + (["bigrams.json"] if ngrams == 2 else [])
    return ["normalizer.json"] if normalized else []


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
    training ``[data]`` table) lets ``padless evaluate`` read new data the same way. The
    manifest lists exactly the files written here: anything else in the directory (an export
    of an earlier model) is never read."""
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
    (d / CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (d / LABELS).write_text(json.dumps(labels.to_dict(), indent=2), encoding="utf-8")
    pipeline.save(d)
    names = [CONFIG, LABELS, WEIGHTS]
    text = pipeline.text
    tokenizer, ngrams = (text.config.tokenizer, text.config.ngrams) if text else ("word", 1)
    names += _input_files(pipeline.kind, pipeline.normalizer is not None, tokenizer, ngrams)
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        names.append("metrics.json")
    write_manifest(d, names)
    logger.info("saved model artifact to %s", d)
    return d


def weights_digest(directory: str | Path) -> str:
    """The sha256 of an artifact's weights, as its manifest records it."""
    return read_manifest(directory).digest(WEIGHTS)


def load_artifact(directory: str | Path, model: bool = True) -> Artifact:
    """Load and verify a model directory. Weights come from safetensors: nothing is unpickled.

    ``model=False`` skips building the network (and importing PyTorch): the manifest, config,
    labels, input pipeline and the sizes in the weights header are still read and checked.
    """
    d = Path(directory)
    manifest = read_manifest(d)
    manifest.verify_files()  # every listed model file, before any of them is read
    for name in (CONFIG, LABELS, WEIGHTS):
        manifest.digest(name)  # listed (so just verified), or refused unread
    meta = _read_config(d / CONFIG)
    labels = read_saved_json(d / LABELS, "the label names", LabelSpace.from_dict, SAVE_FIX)
    info = meta.get("pipeline") or {"kind": meta["input"]}
    text: dict[str, Any] = {}
    if info["kind"] == "text":
        manifest.digest("text.json")
        text = read_saved_json(d / "text.json", "the text pipeline settings", fix=SAVE_FIX)
        if not isinstance(text, dict):
            raise _config_error(d / "text.json", "a JSON object", type(text).__name__)
    tokenizer, ngrams = text.get("tokenizer", "word"), text.get("ngrams", 1)
    for name in _input_files(info["kind"], bool(info.get("normalized")), tokenizer, ngrams):
        manifest.digest(name)
    pipeline = InputPipeline.load(d, meta)
    shapes = weight_shapes(d / WEIGHTS)
    check_sizes(d, meta["model"], shapes, labels, pipeline)
    net = _load_model(d, meta["model"], shapes) if model else None
    return Artifact(model=net, labels=labels, pipeline=pipeline, meta=meta, path=d)


# ------------------------------------------------------------------------- config.json schema
def _config_error(where: object, expected: str, got: str) -> ArtifactError:
    return ArtifactError(format_error(str(where), expected, got, SAVE_FIX))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float) and math.isfinite(v)


def _mix_path(v: Any) -> bool:
    """A combined model's linear path (padless.models.mixture): its kind, then sizes only
    (integers ≥ 0, or lists of them)."""
    if not isinstance(v, dict) or v.get("kind") not in PATH_KINDS:
        return False
    values = [x for k, x in v.items() if k != "kind"]
    items = [y for x in values for y in (x if isinstance(x, list) else [x])]
    return all(_is_int(x) and x >= 0 for x in items) and len(items) <= 4096


def _positive(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


# key → (check, what it expects); a table may hold no other key
Schema = Mapping[str, tuple[Callable[[Any], bool], str]]
_TOP: Schema = {
    "padless_version": (lambda v: isinstance(v, str), "a version string"),
    "format_version": (_is_int, "an integer"),
    "architecture": (lambda v: v == "SequenceClassifier", "'SequenceClassifier'"),
    "model": (lambda v: isinstance(v, dict), "a table of model arguments"),
    "input": (lambda v: v in ("text", "ids", "numeric"), "text, ids or numeric"),
    "pipeline": (_optional(lambda v: isinstance(v, dict)), "a table or null"),
    "data": (_optional(lambda v: isinstance(v, dict)), "a table or null"),
}
_DATA_DECIDED: Schema = {  # model arguments the data (and the combination on validation)
    "num_outputs": (_positive, "an integer ≥ 1"),  # decide; the rest are ModelConfig fields
    "task": (lambda v: v in TASKS, f"one of {', '.join(TASKS)}"),
    "vocab_size": (_optional(_positive), "an integer ≥ 1 or null"),
    "num_features": (_optional(_positive), "an integer ≥ 1 or null"),
    "mix_path": (_optional(_mix_path), f"a table with kind {' or '.join(PATH_KINDS)}, or null"),
    "mix_weight": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
}
_PIPELINE: Schema = {
    "kind": (lambda v: v in ("text", "ids", "numeric"), "text, ids or numeric"),
    "vocab_size": (_optional(_positive), "an integer ≥ 1 or null"),
    "num_features": (_optional(_positive), "an integer ≥ 1 or null"),
    "feature_names": (
        _optional(lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
        "a list of names or null",
    ),
    "max_steps": (_optional(_positive), "an integer ≥ 1 or null"),
    "patch_size": (_positive, "an integer ≥ 1"),
    "log_transform": (lambda v: isinstance(v, bool), "true or false"),
    "log_scale": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "normalized": (lambda v: isinstance(v, bool), "true or false"),
}


def _check_table(
    where: str, table: Mapping[str, Any], schema: Schema, required: tuple[str, ...] = ()
) -> None:
    for key, value in table.items():
        if key not in schema:
            raise _config_error(where, f"a key among {', '.join(schema)}", f"unknown key {key!r}")
        check, expected = schema[key]
        if not check(value):
            raise _config_error(f"{where} '{key}'", expected, repr(value)[:80])
    for key in required:
        if key not in table:
            raise _config_error(where, f"the key {key!r}", "none")


def _read_config(path: Path) -> dict[str, Any]:
    """``config.json`` checked against its schema (see the module docstring)."""
    meta = read_saved_json(path, "the model settings", fix=SAVE_FIX)
    if not isinstance(meta, dict):
        raise _config_error(path, "a JSON object", f"a {type(meta).__name__}")
    if meta.get("format_version") != FORMAT_VERSION:  # first: a newer format may differ below
        raise ArtifactError(
            format_error(
                str(path),
                f"artifact format version {FORMAT_VERSION}",
                f"version {meta.get('format_version')!r} (written by "
                f"padless {meta.get('padless_version')})",
                "load it with the padless version that wrote it, or re-train",
            )
        )
    _check_table(str(path), meta, _TOP, required=("model", "input"))
    args = meta["model"]
    where = f"{path} 'model'"
    decided = {k: v for k, v in args.items() if k in _DATA_DECIDED}
    _check_table(where, decided, _DATA_DECIDED, required=("num_outputs",))
    if (args.get("vocab_size") is None) == (args.get("num_features") is None):
        raise _config_error(where, "one of vocab_size or num_features", "both or neither")
    try:  # the ModelConfig fields: names, types, choices and ranges, as a [model] table
        fields = {k: v for k, v in args.items() if k not in _DATA_DECIDED}
        config_from_dict({"model": fields}, origin=str(path))
        if meta.get("data") is not None:
            config_from_dict({"data": meta["data"]}, origin=str(path))
    except ConfigError as exc:
        raise ArtifactError(f"{exc} (in a saved model: {SAVE_FIX})") from None
    pipeline = meta.get("pipeline")
    if pipeline is not None:
        _check_table(f"{path} 'pipeline'", pipeline, _PIPELINE, required=("kind",))
        if pipeline["kind"] != meta["input"]:
            raise _config_error(path, f"pipeline kind {meta['input']!r}", repr(pipeline["kind"]))
    return meta


def _load_model(d: Path, args: Mapping[str, Any], shapes: Shapes) -> SequenceClassifier:
    from safetensors.torch import load_file

    from padless.models.classifier import build_model

    check_network(d, args, shapes)  # a skeleton on the meta device, tensor by tensor
    model = build_model(args, where=f"{d / CONFIG} 'model'")
    try:
        state = load_file(str(d / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types
        got = f"unreadable ({exc})"
        raise _config_error(d / WEIGHTS, "a safetensors weights file", got) from None
    model.load_state_dict(state)  # every name and shape was compared above
    return model.eval()
