"""Parameter counts from the config alone match the model that train builds."""

import pytest

from padless.config import load_config
from padless.models.classifier import SequenceClassifier
from padless.train.hardware import count_parameters


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["model.cell=gru", "model.num_layers=2"],
        ["model.conv_channels=24", "model.conv_kernel=3", "model.conv_layers=2"],
        ["model.embedding_skip=true", "model.bidirectional=false"],
        ["model.transformer_layers=1", "model.pooling=attention"],
    ],
)
@pytest.mark.parametrize("inputs", [{"vocab_size": 50}, {"num_features": 7}])
def test_count_parameters_matches_the_model(extra, inputs):
    cfg = load_config(None, ["model.embedding_dim=16", "model.hidden_size=8", *extra])
    m = cfg.model
    model = SequenceClassifier(
        num_outputs=3,
        embedding_dim=m.embedding_dim,
        hidden_size=m.hidden_size,
        cell=m.cell,
        num_layers=m.num_layers,
        bidirectional=m.bidirectional,
        pooling=m.pooling,
        transformer_layers=m.transformer_layers,
        embedding_skip=m.embedding_skip,
        conv_channels=m.conv_channels,
        conv_kernel=m.conv_kernel,
        conv_layers=m.conv_layers,
        **inputs,
    )
    actual = sum(p.numel() for p in model.parameters())
    counted = count_parameters(cfg, inputs, 3)
    width = (2 if m.bidirectional else 1) * m.hidden_size
    slack = 2 * width - (width + 1) if m.pooling == "attention" else 2 * width  # upper bound
    assert counted - actual == slack
