"""What exports are built from and checked against: an eval copy of the model and ragged inputs.

Shapes: B batch, T time steps (padded length), F input features per step, K ids per step.
Both exporters (:mod:`padless.deploy.onnx`, :mod:`padless.deploy.torchscript`) trace or script
a float32 CPU eval copy of the model (:func:`eval_copy`, the caller's model keeps its device
and mode) and compare the exported file with eager on a ragged batch from
:func:`example_inputs`, whose rows have different lengths and zeros past each length.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn

from padless.models.classifier import SequenceClassifier
from padless.nn.lengths import lengths_mask

logger = logging.getLogger(__name__)


def eval_copy(model: SequenceClassifier) -> SequenceClassifier:
    """A float32 CPU copy in eval mode: what exports are built from and checked against,
    leaving the caller's model (its device and mode) untouched."""
    return copy.deepcopy(model).cpu().float().eval()


def example_inputs(
    model: SequenceClassifier, batch: int = 3, steps: int = 6, ids_per_step: int = 1
) -> tuple[Tensor, Tensor]:
    """A ragged (inputs, lengths) pair of the kind the model reads, zero past each length."""
    g = torch.Generator().manual_seed(batch * 1000 + steps)
    lengths = torch.tensor([steps] + [max(1, steps - 2 - i) for i in range(batch - 1)])
    if isinstance(model.embed, nn.Embedding):
        shape = (batch, steps) if ids_per_step == 1 else (batch, steps, ids_per_step)
        inputs = torch.randint(1, model.embed.num_embeddings, shape, generator=g)
    else:
        inputs = torch.randn(batch, steps, model.embed.in_features, generator=g)
    inputs = inputs * lengths_mask(lengths, steps).reshape(batch, steps, *[1] * (inputs.dim() - 2))
    return inputs, lengths
