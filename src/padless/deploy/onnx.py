"""Export a trained model to ONNX with exact variable-length semantics inside the graph.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2), K ids per step, C outputs. The graph takes ``inputs`` (int64 ids
(B, T) / (B, T, K), or float (B, T, F)) and int64 ``lengths`` (B,), with dynamic batch and
time axes, and returns ``logits`` (B, C), or (B, T, C) for tagging. Exporters usually lose the
lengths (tracing ``PackedSequence`` fails or records a graph that reads padding); here
every recurrent layer becomes one ONNX ``LSTM`` / ``GRU`` / ``RNN`` node fed ``sequence_lens``,
which runs each sequence only over its own steps, the reverse direction included. The rest of
the model (embedding, conv front end, masks, pooling, head) is traced from the same
:class:`~padless.models.SequenceClassifier` code that runs eagerly, and after writing the file
ONNX Runtime is checked against eager on a ragged batch.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from padless.deploy.artifact import WEIGHTS_KEY
from padless.deploy.parity import eval_copy, example_inputs
from padless.errors import ExportError, format_error
from padless.models.classifier import SequenceClassifier
from padless.models.encoder import RecurrentEncoder
from padless.models.hybrid import HybridEncoder
from padless.nn.lengths import lengths_mask

logger = logging.getLogger(__name__)

OPSET = 17


# ONNX gate order from PyTorch's: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}


_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _onnx_gates(w: Tensor, cell: str) -> Tensor:
    chunks = w.detach().chunk(len(_GATE_ORDER[cell]), dim=0)
    return torch.cat([chunks[i] for i in _GATE_ORDER[cell]], dim=0)


class _RecurrentOp(torch.autograd.Function):
    """Traced as one ONNX node per recurrent layer (``symbolic``). Only the export trace calls
    ``forward``; its values are never used (eager calls run the encoder itself), so it returns
    zeros of the output's shape (B, T, D*H)."""

    @staticmethod
    def forward(ctx, x, lengths, cell, hidden, layers, dirs, relu, *weights):  # noqa: ARG004
        return x.new_zeros(x.shape[0], x.shape[1], dirs * hidden)

    @staticmethod
    def symbolic(g, x, lengths, cell, hidden, layers, dirs, relu, *weights):
        seq = g.op("Cast", lengths, to_i=6)  # int32, as the ONNX recurrent ops require
        h = g.op("Transpose", x, perm_i=[1, 0, 2])  # (T, B, F)
        flat = g.op("Constant", value_t=torch.tensor([0, 0, -1], dtype=torch.int64))
        attrs: dict[str, Any] = {
            "hidden_size_i": hidden,
            "direction_s": "bidirectional" if dirs == 2 else "forward",
        }
        if cell == "gru":
            attrs["linear_before_reset_i"] = 1  # PyTorch applies r after the hidden matmul
        if cell == "rnn":
            attrs["activations_s"] = ["Relu" if relu else "Tanh"] * dirs
        for layer in range(layers):
            w, r, b = weights[3 * layer : 3 * layer + 3]
            outputs = 3 if cell == "lstm" else 2
            y, *_ = g.op(_ONNX_OP[cell], h, w, r, b, seq, outputs=outputs, **attrs)
            y = g.op("Transpose", y, perm_i=[0, 2, 1, 3])  # (T, D, B, H) → (T, B, D, H)
            h = g.op("Reshape", y, flat)  # (T, B, D*H)
        return g.op("Transpose", h, perm_i=[1, 0, 2])  # (B, T, D*H)


class OnnxRecurrent(nn.Module):
    """Stands in for a :class:`RecurrentEncoder` during export (same call, same outputs).

    Holds the weights in ONNX layout, per layer W (D, G*H, F), R (D, G*H, H), B (D, 2*G*H),
    with G gate blocks per cell (4 LSTM, 3 GRU, 1 RNN) and F the layer's input size.
    """

    def __init__(self, encoder: RecurrentEncoder):
        super().__init__()
        self.encoder = encoder
        self.output_size = encoder.output_size
        self.num_directions = encoder.num_directions
        cell = encoder.cell
        for layer in range(encoder.num_layers):
            ws, rs, bs = [], [], []
            for d in range(encoder.num_directions):
                w_ih, w_hh, b_ih, b_hh = encoder.direction_weights(layer, d)
                ws.append(_onnx_gates(w_ih, cell))
                rs.append(_onnx_gates(w_hh, cell))
                bs.append(torch.cat([_onnx_gates(b_ih, cell), _onnx_gates(b_hh, cell)]))
            self.register_buffer(f"w{layer}", torch.stack(ws))
            self.register_buffer(f"r{layer}", torch.stack(rs))
            self.register_buffer(f"b{layer}", torch.stack(bs))

    def forward(self, x: Tensor, lengths: Tensor, return_state: bool = False):
        enc = self.encoder
        if not torch.onnx.is_in_onnx_export():
            return enc(x, lengths, return_state=return_state)
        weights = []
        for layer in range(enc.num_layers):
            weights += [getattr(self, f"{k}{layer}") for k in "wrb"]
        relu = enc.nonlinearity == "relu"
        args = (enc.cell, enc.hidden_size, enc.num_layers, enc.num_directions, relu)
        out = _RecurrentOp.apply(x, lengths, *args, *weights)
        # Steps past each length are zero, as the eager encoder returns them.
        out = out * lengths_mask(lengths, x.shape[1])[..., None].to(out.dtype)
        return out, None


class OnnxTransformerLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` (post-norm, batch first, eval) rewritten with reshapes
    that keep B and T symbolic when traced; ``nn.MultiheadAttention`` computes B * heads in
    Python, which tracing freezes to the example's sizes."""

    def __init__(self, layer: nn.TransformerEncoderLayer):
        super().__init__()
        if layer.norm_first or not isinstance(layer.self_attn, nn.MultiheadAttention):
            raise ExportError(
                format_error("export", "a post-norm encoder layer", "another layout", None)
            )
        attn = layer.self_attn
        self.heads = attn.num_heads
        self.in_proj = nn.Linear(attn.embed_dim, 3 * attn.embed_dim)
        self.in_proj.weight, self.in_proj.bias = attn.in_proj_weight, attn.in_proj_bias
        self.out_proj = attn.out_proj
        self.linear1, self.linear2 = layer.linear1, layer.linear2
        self.norm1, self.norm2 = layer.norm1, layer.norm2
        self.activation = layer.activation

    def forward(self, x: Tensor, src_key_padding_mask: Tensor) -> Tensor:
        # x (B, T, E); src_key_padding_mask (B, T), True at padded steps.
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, heads, T, T)
        scores = scores.masked_fill(src_key_padding_mask[:, None, None, :], float("-inf"))
        mixed = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).flatten(2)  # (B, T, E)
        x = self.norm1(x + self.out_proj(mixed))
        return self.norm2(x + self.linear2(self.activation(self.linear1(x))))


class OnnxTransformer(nn.Module):
    """Stands in for an ``nn.TransformerEncoder`` during export."""

    def __init__(self, encoder: nn.TransformerEncoder):
        super().__init__()
        self.layers = nn.ModuleList(OnnxTransformerLayer(layer) for layer in encoder.layers)
        self.norm = encoder.norm

    def forward(self, x: Tensor, src_key_padding_mask: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, src_key_padding_mask)
        return self.norm(x) if self.norm is not None else x


def exportable(model: SequenceClassifier) -> SequenceClassifier:
    """A copy of ``model`` (eval mode, float32, CPU) whose recurrent encoders export to ONNX."""
    m = eval_copy(model)
    # add_module replaces a submodule by name: the stand-ins take the same calls as the
    # modules they replace, without being of their declared types.
    if isinstance(m.encoder, HybridEncoder):
        m.encoder.add_module("recurrent", OnnxRecurrent(m.encoder.recurrent))
        m.encoder.add_module("transformer", OnnxTransformer(m.encoder.transformer))
    else:
        m.add_module("encoder", OnnxRecurrent(m.encoder))
    return m


def export_onnx(
    model: SequenceClassifier,
    path: str | Path,
    *,
    ids_per_step: int = 1,
    opset: int = OPSET,
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Write ``model`` as ONNX to ``path``; check it against eager; return a small report.

    ``ids_per_step`` is K for models reading (B, T, K) ids (``text.ngrams = 2``), else 1.
    """
    import onnxruntime as ort

    m = exportable(model)
    inputs, lengths = example_inputs(m, ids_per_step=ids_per_step)
    axes = {"inputs": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}}
    if model.task == "tagging":
        axes["logits"] = {0: "batch", 1: "time"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # tracer warnings about the eager-only length checks
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m,
            (inputs, lengths),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["inputs", "lengths"],
            output_names=["logits"],
            dynamic_axes=axes,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs, lengths = example_inputs(m, batch=5, steps=11, ids_per_step=ids_per_step)
    with torch.no_grad():
        expected = eval_copy(model)(inputs, lengths).numpy()
    got = session.run(None, {"inputs": inputs.numpy(), "lengths": lengths.numpy()})[0]
    diff = float(np.abs(expected - got).max())
    logger.info("exported %s (opset %d); max |onnx - eager| = %.2e", path, opset, diff)
    if not diff <= tolerance:
        raise ExportError(
            format_error(
                str(path),
                f"ONNX Runtime outputs within {tolerance:g} of eager on a ragged batch",
                f"a difference of {diff:.3g}",
                "report this model's config as a bug; use the eager backend meanwhile",
            )
        )
    return {"path": str(path), "opset": opset, "max_abs_diff": diff, "bytes": path.stat().st_size}


def quantize_onnx(src: str | Path, dst: str | Path, model: SequenceClassifier, ids_per_step=1):
    """Dynamic int8 quantisation (ONNX Runtime) of the fp32 graph ``src`` into ``dst``.

    Weights of the recurrent nodes, matmuls and the embedding become int8; activations are
    quantised per batch at run time. ``sequence_lens`` is kept. Returns the sizes and the
    largest logit change against the fp32 graph on a ragged batch.
    """
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = Path(dst).with_suffix(".pre.onnx")
    try:  # shape inference and graph clean-up first, as ONNX Runtime recommends
        quant_pre_process(str(src), str(prepared))
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)
    inputs, lengths = example_inputs(model, batch=16, steps=40, ids_per_step=ids_per_step)
    feeds = {"inputs": inputs.numpy(), "lengths": lengths.numpy()}
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        for p in (src, dst)
    ]
    return {
        "fp32_bytes": Path(src).stat().st_size,
        "bytes": Path(dst).stat().st_size,
        "int8_max_abs_change": float(np.abs(outs[0] - outs[1]).max()),
    }


def stamp_onnx(path: Path, digest: str) -> None:
    """Record the source weights' digest (and padless version) in the metadata of the ONNX
    file ``path``, where :mod:`padless.deploy.backends` checks it before running the file."""
    import onnx

    from padless import __version__

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    props.update({WEIGHTS_KEY: digest, "padless.version": __version__})
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
