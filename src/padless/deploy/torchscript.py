"""Export a trained model to TorchScript with exact variable-length semantics.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2), E embedding size, K ids per step, C outputs. :class:`ScriptedClassifier`
takes ``inputs`` (int64 ids (B, T) / (B, T, K), or float features (B, T, F)) and int64
``lengths`` (B,), with B and T free, and returns the logits of
:class:`~padless.models.SequenceClassifier` in eval mode: (B, C), or (B, T, C) for tagging.

Why a rewrite rather than ``torch.jit.script(model)``: the eager encoder picks among fused
kernels, the optional C++ extension and ``PackedSequence`` with Python-level control flow
(``int(lengths.max())`` slicing, sorted segments, ``*`` unpacking, ``Optional`` submodules),
which TorchScript cannot compile, and tracing freezes B and T. Here every recurrent layer and
direction is an explicit time loop over the cell equations of the encoder's ``reference``
path (:mod:`padless.models.encoder`); the state is held at padded steps (``torch.where``) and
outputs there are zero, the reverse direction runs on each sequence reversed within its own
length, so a sequence's result does not depend on its batch or on how much (or what) padding
follows it.

RNN → Transformer hybrids (:class:`~padless.models.HybridEncoder`): each post-norm
``nn.TransformerEncoderLayer`` is rewritten as explicit attention (:class:`_AttentionLayer`:
in-projection, per-head scores, out-projection, norms, feed-forward) over the recurrent
outputs, because ``nn.MultiheadAttention``'s fast path and Python-level shape logic do not
script or freeze B and T. Padded keys are masked out of every softmax, so real steps never
attend to padding, and padded query rows are zeroed at the end, as the eager encoder does.

After saving, :func:`export_torchscript` reloads the file and checks it against eager on a
ragged batch.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from padless.deploy.parity import eval_copy, example_inputs
from padless.errors import ExportError, format_error
from padless.models.classifier import SequenceClassifier
from padless.models.hybrid import HybridEncoder
from padless.models.mixture import mix_outputs

logger = logging.getLogger(__name__)


def _real(lengths: Tensor, t: int) -> Tensor:
    """(B,) lengths → (B, T, 1) bool, True at real steps."""
    return (torch.arange(t, device=lengths.device)[None, :] < lengths[:, None])[:, :, None]


def _reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """``padless.models.reverse_within_length`` for (B, T, F), in TorchScript's subset."""
    b, t = x.shape[0], x.shape[1]
    steps = torch.arange(t, device=x.device)[None, :].expand(b, t)
    lens = lengths[:, None]
    index = torch.where(steps < lens, lens - 1 - steps, steps)
    return x.gather(1, index[:, :, None].expand(b, t, x.shape[2]))


class _Direction(nn.Module):
    """One layer, one direction: (B, T, F) → (B, T, H), zero at padded steps."""

    def __init__(self, weights: list[Tensor], cell: str, relu: bool, reverse: bool):
        super().__init__()
        w_ih, w_hh, b_ih, b_hh = (nn.Parameter(w.detach().clone()) for w in weights)
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = w_ih, w_hh, b_ih, b_hh
        self.cell, self.relu, self.reverse = cell, relu, reverse
        self.hidden = int(w_hh.shape[1])

    def forward(self, x: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        if self.reverse:
            x = _reverse_within_length(x, lengths)
        b, t = x.shape[0], x.shape[1]
        gi_all = torch.matmul(x, self.w_ih.t()) + self.b_ih  # (B, T, G*H), one matmul
        h = x.new_zeros(b, self.hidden)
        c = x.new_zeros(b, self.hidden)
        outs: list[Tensor] = []
        for step in range(t):
            gi = gi_all[:, step]
            gh = torch.matmul(h, self.w_hh.t()) + self.b_hh
            if self.cell == "lstm":
                i, f, g, o = (gi + gh).chunk(4, dim=-1)
                c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h_new = torch.sigmoid(o) * torch.tanh(c_new)
            elif self.cell == "gru":
                ir, iz, in_ = gi.chunk(3, dim=-1)
                hr, hz, hn = gh.chunk(3, dim=-1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(in_ + r * hn)  # PyTorch's GRU: r applied to (W_hn h + b_hn)
                h_new = (1 - z) * n + z * h
                c_new = c
            else:
                pre = gi + gh
                h_new = torch.relu(pre) if self.relu else torch.tanh(pre)
                c_new = c
            # (B, 1): the state only advances at real steps, as in the reference loop. Padding
            # only follows a sequence's real steps (the reverse direction's too), so the logits
            # never read a held state; the zeroed outputs below are what keeps them exact.
            m = real[:, step]
            h = torch.where(m, h_new, h)
            c = torch.where(m, c_new, c)
            outs.append(torch.where(m, h_new, torch.zeros_like(h_new)))
        out = torch.stack(outs, dim=1)
        return _reverse_within_length(out, lengths) if self.reverse else out


class _Layer(nn.Module):
    def __init__(self, directions: list[_Direction]):
        super().__init__()
        self.directions = nn.ModuleList(directions)

    def forward(self, x: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        outs: list[Tensor] = []
        for direction in self.directions:
            outs.append(direction(x, lengths, real))
        return torch.cat(outs, dim=-1)  # (B, T, D*H)


def _padded_keys(real: Tensor) -> Tensor:
    """(B, T, 1) real-step mask → (B, 1, 1, T) bool, True at the padded keys every attention
    softmax must ignore (``src_key_padding_mask``, broadcast over heads and queries)."""
    return ~real[:, None, None, :, 0]


def _activation(layer: nn.TransformerEncoderLayer) -> str:
    """``"relu"`` or ``"gelu"`` (exact) from a layer's activation, a function or a module."""
    act = layer.activation
    if act is torch.nn.functional.relu or isinstance(act, nn.ReLU):
        return "relu"
    exact_gelu = isinstance(act, nn.GELU) and act.approximate == "none"
    if act is torch.nn.functional.gelu or exact_gelu:
        return "gelu"
    raise ExportError(
        format_error(
            "torchscript export, transformer activation",
            "relu or gelu (exact)",
            repr(act),
            "use relu or gelu in the transformer layers, or serve with the eager backend",
        )
    )


def _linear(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    """A plain ``nn.Linear`` holding copies of ``weight`` (out, in) and ``bias`` (out,)."""
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    linear.weight = nn.Parameter(weight.detach().clone())
    if bias is not None:
        linear.bias = nn.Parameter(bias.detach().clone())
    return linear


class _AttentionLayer(nn.Module):
    """A post-norm ``nn.TransformerEncoderLayer`` (eval) as explicit attention: (B, T, E) and
    padded keys (B, 1, 1, T) → (B, T, E). Rows of padded queries are computed but never read."""

    def __init__(self, layer: nn.TransformerEncoderLayer):
        super().__init__()
        attn = layer.self_attn
        plain = (
            not layer.norm_first
            and attn.batch_first
            and attn._qkv_same_embed_dim
            and attn.bias_k is None
            and not attn.add_zero_attn
        )
        if not plain:
            raise ExportError(
                format_error(
                    "torchscript export, transformer layer",
                    "a post-norm, batch-first layer with plain self-attention",
                    "another layout (norm_first, bias_k/bias_v, add_zero_attn or kdim/vdim)",
                    "use the eager backend for this model",
                )
            )
        self.gelu = _activation(layer) == "gelu"
        e = attn.embed_dim
        self.heads = attn.num_heads
        self.scale = 1.0 / math.sqrt(e // self.heads)
        self.in_proj = _linear(attn.in_proj_weight, attn.in_proj_bias)  # q, k, v stacked
        self.out_proj = _linear(attn.out_proj.weight, attn.out_proj.bias)
        self.linear1, self.linear2 = layer.linear1, layer.linear2
        self.norm1, self.norm2 = layer.norm1, layer.norm2

    def forward(self, x: Tensor, padded_keys: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[1]
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q = q.reshape(b, t, self.heads, -1).transpose(1, 2)  # (B, heads, T, E/heads)
        k = k.reshape(b, t, self.heads, -1).transpose(1, 2)
        v = v.reshape(b, t, self.heads, -1).transpose(1, 2)
        scores = torch.matmul(q * self.scale, k.transpose(-1, -2))  # (B, heads, T, T)
        scores = scores.masked_fill(padded_keys, float("-inf"))  # every row has a real key
        mixed = torch.matmul(torch.softmax(scores, dim=-1), v)
        x = self.norm1(x + self.out_proj(mixed.transpose(1, 2).reshape(b, t, -1)))
        hidden = self.linear1(x)
        hidden = torch.nn.functional.gelu(hidden) if self.gelu else torch.relu(hidden)
        return self.norm2(x + self.linear2(hidden))


class ScriptedClassifier(nn.Module):
    """A scriptable copy of a trained :class:`SequenceClassifier`, recurrent or RNN →
    Transformer hybrid (eval, float32, CPU).

    ``forward(inputs, lengths)`` computes what ``SequenceClassifier.forward`` computes in eval
    mode (dropout is the identity there, so it is left out).
    """

    def __init__(self, model: SequenceClassifier):
        super().__init__()
        m = eval_copy(model)
        enc = m.encoder
        self.num_directions = enc.num_directions  # a hybrid's is 1: "last" reads all of it
        attention: list[_AttentionLayer] = []
        self.final_norm: nn.Module = nn.Identity()
        if isinstance(enc, HybridEncoder):
            attention = [_AttentionLayer(layer) for layer in enc.transformer.layers]
            if enc.transformer.norm is not None:
                self.final_norm = enc.transformer.norm
            enc = enc.recurrent
        self.transformer = nn.ModuleList(attention)  # empty for a recurrent model
        relu = enc.nonlinearity == "relu"
        self.embed = m.embed
        self.conv_layers = nn.ModuleList(m.conv.convs if m.conv is not None else [])
        self.encoder = nn.ModuleList(
            _Layer(
                [
                    _Direction(enc.direction_weights(layer, d), enc.cell, relu, reverse=d == 1)
                    for d in range(enc.num_directions)
                ]
            )
            for layer in range(enc.num_layers)
        )
        self.tagging = m.pool is None
        self.pooling = "none" if m.pool is None else m.pool.kind
        score = m.pool.score if m.pool is not None else None  # a Linear for "attention"
        weight = torch.zeros(0, 0) if score is None else score.weight.detach()
        bias = torch.zeros(0) if score is None else score.bias.detach()
        self.score_weight = nn.Parameter(weight)
        self.score_bias = nn.Parameter(bias)
        self.skip = m.skip is not None
        self.head = m.head
        self.mix = m.mix  # the combined model's fitted linear path, or None
        self.mix_weight = m.mix_weight
        self.mix_reads_ids = m.mix_reads_ids
        self.task = m.task
        self.requires_grad_(False)
        self.eval()

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        b, t = inputs.shape[0], inputs.shape[1]
        if lengths.dim() != 1 or lengths.shape[0] != b or lengths.is_floating_point():
            raise ValueError("lengths: expected an integer tensor of shape (B,), one per row")
        lengths = lengths.long()
        if b > 0 and (bool((lengths < 1).any()) or bool((lengths > t).any())):
            raise ValueError("lengths: expected every length in [1, T] (T = inputs.shape[1])")
        real = _real(lengths, t)  # (B, T, 1)
        x = self.embed(inputs)  # (B, T, E), or (B, T, K, E) for K ids per step
        if x.dim() == 4:
            x = x.sum(dim=2)
        h = x
        if len(self.conv_layers) > 0:
            y = h.transpose(1, 2)  # (B, E, T)
            mask = real.transpose(1, 2)  # (B, 1, T)
            for conv in self.conv_layers:
                y = torch.relu(conv(y * mask))
            h = (y * mask).transpose(1, 2)
        # Steps past the longest sequence are pure padding: not computed, zero in the output.
        t_max = int(lengths.max()) if b > 0 else t
        out = h[:, :t_max]
        real_max = real[:, :t_max]
        for layer in self.encoder:
            out = layer(out, lengths, real_max)  # (B, T, D*H), zero at padded steps
        if len(self.transformer) > 0:
            padded_keys = _padded_keys(real_max)
            for attention in self.transformer:
                out = attention(out, padded_keys)
            out = self.final_norm(out) * real_max  # padded query rows back to zero
        if t_max < t:
            out = torch.cat([out, out.new_zeros(b, t - t_max, out.shape[2])], dim=1)
        if self.tagging:
            return self.head(out) * real  # (B, T, C), zero at padded steps
        pooled = self._pool(out, lengths, real)
        if self.skip:
            xr = x * real  # a Linear embeds a zero step to its bias, not zero
            pooled = torch.cat([pooled, xr.sum(1) / lengths[:, None].to(x.dtype)], dim=-1)
        logits = self.head(pooled)
        mix = self.mix
        if mix is not None:  # the combined model: mixed with its linear path's outputs
            x = inputs[:, :, 0] if self.mix_reads_ids and inputs.dim() == 3 else inputs
            logits = mix_outputs(logits, mix(x, lengths), self.mix_weight, self.task)
        return logits

    def _pool(self, out: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        """(B, T, D*H) → (B, D*H) over real steps, as ``MaskedPooling``."""
        if self.pooling == "mean":
            return out.sum(1) / lengths[:, None].to(out.dtype)
        if self.pooling == "max":
            return out.masked_fill(~real, float("-inf")).amax(1)
        if self.pooling == "attention":
            scores = torch.nn.functional.linear(out, self.score_weight, self.score_bias)
            scores = scores.masked_fill(~real, float("-inf"))  # (B, T, 1)
            return (torch.softmax(scores, dim=1) * out).sum(1)
        rows = torch.arange(out.shape[0], device=out.device)
        last = out[rows, lengths - 1]  # (B, D*H)
        if self.num_directions == 1:
            return last
        half = out.shape[2] // 2  # reverse direction: its final state is at step 0
        return torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)


def export_torchscript(
    model: SequenceClassifier,
    path: str | Path,
    *,
    ids_per_step: int = 1,
    tolerance: float = 1e-4,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Script ``model`` into ``path`` (``torch.jit.save``); reload it and check it against eager
    on a ragged batch; return ``{"path", "max_abs_diff", "bytes"}``.

    ``ids_per_step`` is K for models reading (B, T, K) ids (``text.ngrams = 2``), else 1.
    ``metadata`` is stored as the archive's extra file ``padless.json``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit deprecated; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(ScriptedClassifier(model))
        extra = {"padless.json": json.dumps(metadata or {})}
        torch.jit.save(scripted, str(path), _extra_files=extra)
        loaded = torch.jit.load(str(path), map_location="cpu")
    reference = eval_copy(model)
    # Rows hold data up to 11, 9, 8, 7, 6 steps; these lengths (all different, one of 1) put
    # real values in some padded steps as well, which must not change anything.
    inputs, _ = example_inputs(reference, batch=5, steps=11, ids_per_step=ids_per_step)
    lengths = torch.tensor([11, 1, 8, 4, 6])
    with torch.no_grad():
        expected = reference(inputs, lengths)
        got = loaded(inputs, lengths)
    diff = float((expected - got).abs().max())
    logger.info("exported %s (TorchScript); max |scripted - eager| = %.2e", path, diff)
    if not diff <= tolerance:
        raise ExportError(
            format_error(
                str(path),
                f"TorchScript outputs within {tolerance:g} of eager on a ragged batch",
                f"a difference of {diff:.3g}",
                "report this model's config as a bug; use the eager backend meanwhile",
            )
        )
    return {"path": str(path), "max_abs_diff": diff, "bytes": path.stat().st_size}
