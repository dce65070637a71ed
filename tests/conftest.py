"""Fixtures shared across test packages."""

import pytest

from padless.config import load_config
from padless.train.loop import train


@pytest.fixture(scope="session")
def tagging_run(tmp_path_factory):
    """A small unidirectional tagging model trained on running_sum_mod (config, run dir): the
    runner and ``padless evaluate`` tests score it."""
    out = tmp_path_factory.mktemp("tag") / "out"
    cfg = load_config(
        None,
        [
            "data.source=running_sum_mod",
            "data.task=tagging",
            "data.train_size=300",
            "data.valid_size=50",
            "data.test_size=80",
            "data.max_length=15",
            "data.modulus=3",
            "model.hidden_size=16",
            "model.embedding_dim=8",
            "model.bidirectional=false",
            "train.epochs=2",
            # `padless evaluate` runs on the CPU: train there too, so "the same numbers" is
            # exact on a machine with a GPU as well (cuDNN's kernels round differently).
            "train.device=cpu",
        ],
    )
    train(cfg, out, quiet=True)
    return cfg, out
