"""Recurrent models over right-padded batches that give exactly what a per-sequence loop gives.

Shapes (used in every docstring here): B batch, T padded time, I input features, E embedding
size, H hidden size, D directions (1 or 2), L layers, C outputs. Every model takes
``forward(inputs, lengths)``: ``inputs`` (B, T) int64 token ids or (B, T, I) float features,
right-padded by :func:`padless.batching.collate`; ``lengths`` (B,) int64, each in [1, T].

Why the ``padded`` path is exact:

* forward direction: a right-padded sequence is processed from step 0, so steps ``t < length``
  never see padding; later steps are zeroed;
* reverse direction: each sequence is reversed *within its own length* (padding stays at the
  end), run forward, and reversed back, so it too starts at its own last real step;
* final states are read at each sequence's own last real step: ``h`` from the outputs, and the
  LSTM cell state ``c`` by running the batch (sorted by length) in time segments that end at each
  distinct length, carrying the state, so ``c`` is returned exactly where a sequence ends;
* pooling only reads real steps (masked mean / max / attention, or the final states).

Execution paths of :class:`RecurrentEncoder` (same parameters, same results within fp32
rounding): ``padded`` (fused kernels per layer: for float32 CPU LSTMs the C++ kernel of
:mod:`padless.kernels` when it is built, which runs both directions without gathers and skips
padding; otherwise ``torch.lstm`` / ``gru`` / ``rnn`` per direction), ``packed``
(``PackedSequence`` through torch's fused kernels), ``reference`` (the
explicit time × layer loop over the weight matrices: the test oracle) and ``auto``.
``auto`` = ``padded`` on every device and in both training and inference: measured on a
2-core CPU (BENCHMARKS.md, ``benchmarks/train_throughput.py --all``), padded trains a BiLSTM
~35x faster than packed (GRU ~12x, through torch's kernels) and runs inference ~2x faster.
On CUDA it is the same choice, unmeasured here for lack of a GPU.
"""

from __future__ import annotations

from torch import Tensor, nn

from padless.models.encoder import RecurrentEncoder
from padless.models.lengths import lengths_mask


class HybridEncoder(nn.Module):
    """RecurrentEncoder → ``nn.TransformerEncoder`` with ``src_key_padding_mask`` = padding.

    ``forward(x (B, T, I), lengths) -> (B, T, d_model)``, zero at padded steps. ``d_model``
    must equal the recurrent output size D*H; a mismatch raises here, at construction.
    """

    def __init__(
        self,
        recurrent: RecurrentEncoder,
        d_model: int,
        nhead: int = 4,
        num_layers: int = 1,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        if d_model != recurrent.output_size:
            raise ValueError(
                f"d_model: expected {recurrent.output_size} (the recurrent output size, "
                f"hidden_size {recurrent.hidden_size} x {recurrent.num_directions} directions), "
                f"got {d_model}. Fix: set d_model={recurrent.output_size}, or change hidden_size "
                "so that hidden_size * num_directions == d_model."
            )
        if d_model % nhead:
            raise ValueError(f"nhead: expected a divisor of d_model={d_model}, got {nhead}")
        self.recurrent = recurrent
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward or 4 * d_model, dropout, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.output_size = d_model
        self.num_directions = 1  # pooling "last" reads the whole vector at length - 1

    def forward(
        self, x: Tensor, lengths: Tensor, return_state: bool = False
    ) -> tuple[Tensor, None]:
        out, _ = self.recurrent(x, lengths, return_state=False)
        mask = lengths_mask(lengths.to(out.device), out.shape[1])  # (B, T) True = real
        out = self.transformer(out, src_key_padding_mask=~mask)
        return out * mask[..., None], None
