"""The sequence classifier: embedding → optional conv front end → encoder → pooling → head.

Shapes: B batch, T time steps (padded length), F input features per step, E embedding size,
H hidden size, D directions (1 or 2), K ids per step, C outputs. :class:`SequenceClassifier`
is the one network every task trains, exports and serves: ``forward(inputs, lengths)`` takes
right-padded token ids (B, T), K ids per step (B, T, K) or float features (B, T, F) with their
lengths (B,), and returns logits (B, C), or (B, T, C) for tagging. :func:`model_arguments`
turns a ``[model]`` config table into its keyword arguments (what artifacts store) and
:func:`build_model` is the one place a model is built from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from padless.config import ModelConfig
from padless.errors import ConfigError
from padless.models.encoder import RecurrentEncoder
from padless.models.frontend import ConvFrontEnd
from padless.models.hybrid import HybridEncoder
from padless.models.mixture import build_path, check_mix, mix_outputs, reads_ids
from padless.models.names import TASKS
from padless.models.pooling import MaskedPooling
from padless.nn.lengths import check_lengths, lengths_mask


class SequenceClassifier(nn.Module):
    """Embedding (token ids) or linear projection (numeric features) → encoder → head.

    ``inputs`` are token ids (B, T), K token ids per step (B, T, K) whose embeddings are summed
    (word + bigram, ``text.ngrams = 2``), or float features (B, T, F).
    ``conv_channels`` > 0 puts a :class:`ConvFrontEnd` between the embedding and the encoder.
    ``embedding_skip`` feeds the head the masked mean of the embedded steps (B, E) next to
    the pooled encoder output: a bag-of-embeddings path (fastText, with bigram ids) beside the
    recurrent one, which sees word order.
    ``forward(inputs, lengths)`` returns logits (B, C) after masked pooling, or, for
    ``task="tagging"``, per-step logits (B, T, C) that are zero at padded steps (mask the loss
    with ``lengths``). ``binary`` has C = 1; ``regression`` returns C raw values.
    ``mix_path`` (per-sequence tasks) adds a linear path fitted by scikit-learn after training,
    not by gradient (:mod:`padless.models.mixture`), and ``forward`` returns
    :func:`mix_outputs` of both paths with the share ``mix_weight`` chosen on validation.
    """

    def __init__(
        self,
        *,
        num_outputs: int,
        vocab_size: int | None = None,
        num_features: int | None = None,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pooling: str = "mean",
        task: str = "multiclass",
        nonlinearity: str = "tanh",
        execution: str = "auto",
        transformer_layers: int = 0,
        transformer_heads: int = 4,
        embedding_dropout: float = 0.0,
        embedding_skip: bool = False,
        conv_channels: int = 0,
        conv_kernel: int = 5,
        conv_layers: int = 1,
        mix_path: dict[str, Any] | None = None,
        mix_weight: float = 0.0,
    ):
        super().__init__()
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give exactly one of vocab_size (token ids) or num_features")
        if task not in TASKS:
            raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
        self.task = task
        if vocab_size is not None:
            self.embed: nn.Embedding | nn.Linear = nn.Embedding(
                vocab_size, embedding_dim, padding_idx=0
            )
        elif num_features is not None:
            self.embed = nn.Linear(num_features, embedding_dim)
        self.conv = (
            ConvFrontEnd(embedding_dim, conv_channels, conv_kernel, conv_layers)
            if conv_channels
            else None
        )
        recurrent = RecurrentEncoder(
            cell,
            conv_channels or embedding_dim,
            hidden_size,
            num_layers,
            bidirectional,
            dropout,
            nonlinearity,
            execution,
        )
        encoder: RecurrentEncoder | HybridEncoder = recurrent
        if transformer_layers:
            encoder = HybridEncoder(
                recurrent,
                recurrent.output_size,
                transformer_heads,
                transformer_layers,
                dropout=dropout,
            )
        self.encoder = encoder
        size = encoder.output_size
        self.pool = (
            None if task == "tagging" else MaskedPooling(pooling, size, encoder.num_directions)
        )
        self.dropout = nn.Dropout(dropout)
        self.embedding_dropout = nn.Dropout(embedding_dropout)  # on (B, T, E); padding stays 0
        if embedding_skip and task == "tagging":
            raise ValueError("embedding_skip: a pooled-sequence option; tagging has no pooling")
        self.skip = MaskedPooling("mean", embedding_dim, 1) if embedding_skip else None
        self.head = nn.Linear(size + (embedding_dim if embedding_skip else 0), num_outputs)
        self.mix: nn.Module | None = None  # the combined model's fitted linear path
        self.mix_weight = float(mix_weight)
        self.mix_reads_ids = False
        if mix_path is not None:
            check_mix(mix_path, mix_weight, vocab_size, task)
            self.mix = build_path(mix_path, vocab_size, num_outputs)
            self.mix_reads_ids = reads_ids(mix_path)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        out = self._recurrent(inputs, lengths)
        if self.mix is None:
            return out
        x = inputs[..., 0] if self.mix_reads_ids and inputs.dim() == 3 else inputs  # word ids
        return mix_outputs(out, self.mix(x, lengths), self.mix_weight, self.task)

    def _recurrent(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """The recurrent path's outputs (B, C), or (B, T, C) for tagging."""
        lengths = check_lengths(lengths, inputs.shape[0], inputs.shape[1])
        x = self.embed(inputs)  # (B, T, E), or (B, T, K, E) for K ids per step (word + bigram)
        if x.dim() == 4:
            x = x.sum(dim=2)  # padding id 0 embeds to zero, so unknown bigrams add nothing
        x = self.embedding_dropout(x)
        h = self.conv(x, lengths) if self.conv is not None else x  # (B, T, channels or E)
        out, _ = self.encoder(h, lengths, return_state=False)  # (B, T, D*H)
        if self.pool is None:
            mask = lengths_mask(lengths.to(out.device), out.shape[1])[..., None]
            return self.head(self.dropout(out)) * mask  # (B, T, C)
        pooled = self.pool(out, lengths)  # (B, D*H)
        if self.skip is not None:  # + the masked mean of the embedded steps (B, E)
            real = lengths_mask(lengths.to(x.device), x.shape[1])[..., None]  # a Linear
            pooled = torch.cat([pooled, self.skip(x * real, lengths)], dim=-1)  # embeds 0 ≠ 0
        return self.head(self.dropout(pooled))  # (B, C)


def model_arguments(
    config: ModelConfig, *, num_outputs: int, task: str, inputs: Mapping[str, int]
) -> dict[str, Any]:
    """The :class:`SequenceClassifier` keyword arguments of a ``[model]`` table: every field
    of ``config`` plus what the data decides (``num_outputs`` and ``task`` from the labels,
    ``inputs`` = ``{"vocab_size": V}`` or ``{"num_features": F}`` from the input pipeline).
    Artifacts store exactly this dict, so :func:`build_model` rebuilds the trained model."""
    return {**dataclasses.asdict(config), "num_outputs": num_outputs, "task": task, **inputs}


def build_model(arguments: Mapping[str, Any], where: str = "config [model]") -> SequenceClassifier:
    """The one place a model is built from its arguments (:func:`model_arguments`), for
    training and for loading an artifact; a bad combination (e.g. ``relu`` with an LSTM, heads
    that do not divide the model size, an unknown key) raises :class:`ConfigError` naming
    ``where``."""
    try:
        return SequenceClassifier(**arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
