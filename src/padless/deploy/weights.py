"""``model.safetensors``: its header, and the sizes its tensor shapes imply, checked before any
memory is allocated for the network.

Read by :func:`padless.deploy.artifact.load_artifact`, after the manifest has verified the file:

* the header is read alone, its length capped at :data:`MAX_HEADER_BYTES`, and each entry
  checked (a known dtype, an integer shape, offsets spanning exactly the tensor's bytes); the
  tensors must tile the data after the header, with no gap, overlap or trailing byte
  (:func:`weight_shapes`);
* the sizes ``config.json`` declares (embedding, first recurrent layer, head) are compared with
  those shapes, and so are the label names (the head's rows), the vocabulary (the embedding's
  rows) and the input features (its columns) (:func:`check_sizes`), so a forged size cannot
  make the loader allocate memory;
* with PyTorch, a skeleton of the network built on the ``meta`` device (no memory) is compared
  tensor by tensor with the header before the real one is built (:func:`check_network`).

The file names errors cite are defined here (:mod:`padless.deploy.artifact` uses the same).
Torch-free at import: the edge install checks weights without PyTorch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from padless.errors import ArtifactError, ConfigError, format_error
from padless.models.names import GATES

if TYPE_CHECKING:
    from padless.encode.labels import LabelSpace
    from padless.encode.pipeline import InputPipeline

__all__ = [
    "MAX_HEADER_BYTES",
    "WEIGHTS",
    "Shapes",
    "check_network",
    "check_sizes",
    "weight_shapes",
]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
LABELS = "labels.json"
SAVE_FIX = "re-save the model"
MAX_HEADER_BYTES = 16 << 20  # a safetensors header lists each tensor in ~100 bytes
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2}
_DTYPE_BYTES |= {"F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
Shapes = dict[str, tuple[int, ...]]


def _error(where: object, expected: str, got: str) -> ArtifactError:
    return ArtifactError(format_error(str(where), expected, got, SAVE_FIX))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# ----------------------------------------------------------------------------- the header
def weight_shapes(path: Path) -> Shapes:
    """Tensor name → shape from the header of the safetensors file ``path``, checked against
    the file's size (each tensor's bytes, all of them tiling the data). Only the header is read,
    at most :data:`MAX_HEADER_BYTES` of it; needs neither PyTorch nor numpy."""

    def bad(got: str) -> ArtifactError:
        return _error(path, "a safetensors weights file", got)

    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > min(MAX_HEADER_BYTES, size - 8):
            raise bad(f"a header length of {n} bytes in a file of {size}")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except ValueError as exc:
            raise bad(f"an unreadable header ({exc})") from None
    if not isinstance(header, dict):
        raise bad(f"a header that is a {type(header).__name__}")
    header.pop("__metadata__", None)
    shapes: Shapes = {}
    spans = []
    for name, info in header.items():
        entry = _header_entry(info)
        if entry is None:
            raise bad(f"a malformed entry for tensor {name!r}: {str(info)[:120]}")
        shapes[name], begin, stop = entry
        spans.append((begin, stop))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise bad(f"tensor data that does not tile the file (a gap or overlap at {end})")
        end = stop
    if end != size - 8 - n:
        raise bad(f"{size - 8 - n} bytes of tensor data where the header describes {end}")
    return shapes


def _header_entry(info: Any) -> tuple[tuple[int, ...], int, int] | None:
    """(shape, begin, end) of one safetensors header entry, or None if it is malformed: an
    unknown dtype, a shape or offsets that are not integers, a byte span of the wrong size."""
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        return None
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in _DTYPE_BYTES or not isinstance(shape, list) or not isinstance(offsets, list):
        return None
    if not all(_is_int(s) and s >= 0 for s in shape) or len(offsets) != 2:
        return None
    begin, end = offsets
    if (
        not (_is_int(begin) and _is_int(end))
        or end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]
    ):
        return None
    return tuple(shape), begin, end


# --------------------------------------------------------------- sizes against the weights
def _expected_shapes(args: Mapping[str, Any]) -> Shapes:
    """The tensors whose sizes the config declares: the embedding, the first recurrent layer
    and the head (:class:`~padless.models.classifier.SequenceClassifier`'s names). Together they
    bound every size, so nothing absurd gets as far as the full comparison."""
    e, h = args.get("embedding_dim", 128), args.get("hidden_size", 128)
    gates = GATES.get(args.get("cell", "lstm"), 1) * h
    dirs = 2 if args.get("bidirectional", True) else 1
    skip = e if args.get("embedding_skip", False) else 0
    rnn = "encoder.recurrent." if args.get("transformer_layers", 0) else "encoder."
    embed = (args["vocab_size"], e) if args.get("vocab_size") else (e, args["num_features"])
    return {
        "embed.weight": embed,
        f"{rnn}weight_ih_l0": (gates, args.get("conv_channels", 0) or e),
        f"{rnn}weight_hh_l0": (gates, h),
        "head.weight": (args["num_outputs"], dirs * h + skip),
    }


def check_sizes(
    d: Path, args: Mapping[str, Any], shapes: Shapes, labels: LabelSpace, pipeline: InputPipeline
) -> None:
    """The config's sizes, the vocabulary and the label names of the model directory ``d``
    against the weights' shapes."""
    where = f"{d / WEIGHTS}"
    for name, shape in _expected_shapes(args).items():
        if shapes.get(name) != shape:
            got = f"shape {shapes[name]}" if name in shapes else "no such tensor"
            raise _error(where, f"{name} of shape {shape} (config.json 'model')", got)
    for key in ("num_layers", "transformer_layers", "conv_layers"):  # ≥ 1 tensor per layer
        if args.get(key, 1) > len(shapes):
            raise _error(where, f"at least {key}={args[key]} tensors", f"{len(shapes)} tensors")
    rows, width = shapes["embed.weight"]
    labels_at = str(d / LABELS)
    task = args.get("task", labels.task)  # hand-built models may leave the default task
    tagging = args.get("task", "multiclass") == "tagging"
    if task != labels.task or tagging != (labels.task == "tagging"):
        raise _error(labels_at, f"task {args.get('task')!r}", f"task {labels.task!r}")
    if labels.num_outputs != args["num_outputs"]:
        raise _error(
            labels_at,
            f"{args['num_outputs']} output(s), the rows of head.weight in {WEIGHTS}",
            f"{labels.num_outputs} for task {labels.task!r} and {len(labels.classes)} name(s)",
        )
    if labels.task == "binary" and len(labels.classes) != 2:
        raise _error(labels_at, "two class names (task binary)", f"{len(labels.classes)}")
    if pipeline.kind == "numeric":
        features = pipeline.model_kwargs()["num_features"]
        norm = pipeline.normalizer
        if args.get("num_features") != features or width != features:
            raise _error(
                d / CONFIG,
                f"{width} input features per step (the columns of embed.weight in {WEIGHTS})",
                f"{features}",
            )
        if norm is not None and norm.num_features != pipeline.num_features:
            raise _error(
                d / "normalizer.json",
                f"statistics of {pipeline.num_features} features",
                f"{norm.num_features}",
            )
        return
    if args.get("vocab_size") is None:
        raise _error(d / CONFIG, "vocab_size for an input of token ids", "num_features")
    largest = _largest_id(pipeline)
    if largest >= rows or (pipeline.vocab_size or 0) > rows:
        source = CONFIG
        if pipeline.text is not None:
            source = "vocab.json" if pipeline.text.vocab is not None else "tokenizer.json"
        raise _error(
            d / source,
            f"token ids below {rows} (the rows of the embedding in {WEIGHTS})",
            f"a vocabulary of {pipeline.vocab_size} ids, up to id {largest}",
        )


def _largest_id(pipeline: InputPipeline) -> int:
    """The largest id the input pipeline can emit (its embedding needs one more row)."""
    text = pipeline.text
    if text is None:
        return (pipeline.vocab_size or 1) - 1
    if text.vocab is not None:
        largest = len(text.vocab) - 1
    else:
        largest = max(text.tokenizer.get_vocab(with_added_tokens=True).values(), default=0)
    if text.bigrams is not None and len(text.bigrams):
        largest = max(largest, text.bigrams.offset + len(text.bigrams) - 1)
    return largest


# ----------------------------------------------------------------------------- the network
def check_network(d: Path, args: Mapping[str, Any], shapes: Shapes) -> None:
    """The network ``config.json`` describes, built as a skeleton on PyTorch's ``meta`` device
    (parameters without memory), against the weights' shapes tensor by tensor: every name and
    shape, before the real network is built. Needs PyTorch (imported here, not at import)."""
    import torch

    from padless.models.classifier import build_model

    where = f"{d / CONFIG} 'model'"
    try:
        with torch.device("meta"):  # parameters without memory: the shapes alone
            skeleton = build_model(args, where=where)
    except ConfigError as exc:
        raise ArtifactError(f"{exc}. Fix: {SAVE_FIX}") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    for name in sorted(set(expected) | set(shapes)):
        if expected.get(name) != shapes.get(name):
            want = f"shape {expected[name]}" if name in expected else "no such tensor"
            got = f"shape {shapes[name]}" if name in shapes else "no such tensor"
            raise _error(d / WEIGHTS, f"{name}: {want} (config.json 'model')", got)
