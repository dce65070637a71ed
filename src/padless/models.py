"""Recurrent models over right-padded batches that give what a per-sequence loop gives.

Shapes: B batch, T padded time, I input features, E embedding size, H hidden size,
D directions (1 or 2), C outputs. Every model takes ``forward(inputs, lengths)``:
``inputs`` (B, T) int64 token ids or (B, T, I) float features, right-padded by the collate
function; ``lengths`` (B,) int64 on CPU, each ≥ 1.

Why padded execution is exact here:

* forward direction: a right-padded sequence is processed from step 0, so steps ``t < length``
  never see padding; later steps are masked out;
* reverse direction: each sequence is reversed *within its own length* (padding stays at the
  end), run forward, and reversed back, so it also starts at its own last real step;
* pooling only reads real steps (masked mean / max, or the last real step).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
POOLINGS = ("last", "mean", "max")


def lengths_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths → (B, T) bool mask, True at real steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of (B, T, ...) within its first ``lengths[b]`` steps; padding stays
    in place. The operation is its own inverse."""
    b, t = x.shape[:2]
    steps = torch.arange(t, device=x.device)[None, :].expand(b, t)
    lens = lengths.to(x.device)[:, None]
    index = torch.where(steps < lens, lens - 1 - steps, steps)  # (B, T)
    index = index.reshape(b, t, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class RecurrentEncoder(nn.Module):
    """Stacked, optionally bidirectional LSTM / GRU / RNN over right-padded input.

    ``forward(x (B, T, I), lengths (B,)) -> (B, T, D*H)``, zero at padded steps. Each layer and
    direction is a fused single-layer ``torch.nn`` module run over the padded batch; the reverse
    direction sees each sequence reversed within its length.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}; got {cell!r}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        layers = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            layers.append(
                nn.ModuleList(
                    _CELLS[cell](in_size, hidden_size, batch_first=True)
                    for _ in range(self.num_directions)
                )
            )
        self.layers = nn.ModuleList(layers)

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = lengths_mask(lengths.to(x.device), x.shape[1])[..., None]  # (B, T, 1)
        for index, directions in enumerate(self.layers):
            if index > 0:
                x = self.dropout(x)
            outs = [directions[0](x)[0]]
            if self.num_directions == 2:
                rev = directions[1](reverse_within_length(x, lengths))[0]
                outs.append(reverse_within_length(rev, lengths))
            x = torch.cat(outs, dim=-1) * mask  # (B, T, D*H), zero at padding
        return x


def masked_pool(outputs: Tensor, lengths: Tensor, how: str, num_directions: int) -> Tensor:
    """(B, T, D*H) → (B, D*H) over real steps only.

    ``last`` takes the forward half at step ``length - 1`` and the reverse half at step 0 (the
    reverse direction's final state), i.e. the correct bidirectional final states.
    """
    lengths = lengths.to(outputs.device)
    mask = lengths_mask(lengths, outputs.shape[1])[..., None]
    if how == "mean":
        return outputs.sum(1) / lengths[:, None].to(outputs.dtype)
    if how == "max":
        return outputs.masked_fill(~mask, float("-inf")).amax(1)
    if how == "last":
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        last = outputs[rows, lengths - 1]  # (B, D*H)
        if num_directions == 1:
            return last
        h = outputs.shape[-1] // 2
        return torch.cat([last[:, :h], outputs[:, 0, h:]], dim=-1)
    raise ValueError(f"pooling must be one of {POOLINGS}; got {how!r}")


class SequenceClassifier(nn.Module):
    """Embedding (token ids) or linear projection (numeric features) → encoder → pooling → head.

    ``forward(inputs, lengths) -> logits (B, C)``.
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
    ):
        super().__init__()
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give exactly one of vocab_size (token ids) or num_features")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}")
        if vocab_size is not None:
            self.embed: nn.Module = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        else:
            self.embed = nn.Linear(num_features, embedding_dim)
        self.encoder = RecurrentEncoder(
            cell, embedding_dim, hidden_size, num_layers, bidirectional, dropout
        )
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, num_outputs)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        if (lengths < 1).any():
            bad = torch.nonzero(lengths < 1).flatten().tolist()
            raise ValueError(
                f"lengths must be ≥ 1; rows {bad} have length 0. Remove empty "
                "sequences before batching."
            )
        x = self.embed(inputs)  # (B, T, E)
        out = self.encoder(x, lengths)  # (B, T, D*H)
        pooled = masked_pool(out, lengths, self.pooling, self.encoder.num_directions)
        return self.head(self.dropout(pooled))  # (B, C)
