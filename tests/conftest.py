"""Fixtures shared across test packages."""

import os

import pytest

from padless.config import load_config
from padless.train.loop import train


@pytest.fixture(scope="session", autouse=True)
def padless_cache(tmp_path_factory):
    """One encoded-data cache for the whole session (never the user's ~/.cache/padless); the
    CLI subprocesses the tests start inherit it."""
    before = os.environ.get("PADLESS_CACHE")
    root = tmp_path_factory.mktemp("padless-cache")
    os.environ["PADLESS_CACHE"] = str(root)
    yield root
    if before is None:
        os.environ.pop("PADLESS_CACHE", None)
    else:
        os.environ["PADLESS_CACHE"] = before


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
