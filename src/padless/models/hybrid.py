"""The RNN → Transformer hybrid: a recurrent encoder whose outputs a Transformer refines.

Shapes: B batch, T time steps (padded length), F input features per step, H hidden size,
D directions (1 or 2). :class:`HybridEncoder` runs a
:class:`~padless.models.encoder.RecurrentEncoder` (exact on ragged batches), then an
``nn.TransformerEncoder`` whose ``src_key_padding_mask`` hides the padded steps from every
attention, and zeroes the padded steps of its output, so real steps never read padding and
the result does not depend on the batch. It replaces the encoder of a
:class:`~padless.models.classifier.SequenceClassifier` when ``transformer_layers > 0``.
"""

from __future__ import annotations

from torch import Tensor, nn

from padless.models.encoder import RecurrentEncoder
from padless.nn.lengths import lengths_mask


class HybridEncoder(nn.Module):
    """RecurrentEncoder → ``nn.TransformerEncoder`` with ``src_key_padding_mask`` = padding.

    ``forward(x (B, T, F), lengths) -> (B, T, d_model)``, zero at padded steps. ``d_model``
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
