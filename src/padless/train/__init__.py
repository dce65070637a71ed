"""Training: the loop and what it needs around it.

Holds :func:`train` (``loop``: the entry point, which owns its loop, in phases), the run's
moving parts and their setup (``run``), the batch sampler and learning-rate schedule
(``schedule``), the per-epoch bookkeeping of best epoch and early stopping (``epochs``),
starting fresh or resuming from checkpoints (``resume``), atomic checkpoint files with RNG
state (``checkpoint``), the run directory's lock, checks and whole-or-nothing writes
(``outdir``), torchrun / DDP process groups (``distributed``), device / AMP / memory decisions
(``hardware``), language-model pre-training (``pretrain``) and the PNG report (``report``).

May import: everything below it (errors, config, data, encode, batching, models, evaluation)
and :mod:`padless.deploy.artifact` to write the trained model. Nothing imports train except
the CLI.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.train.checkpoint import CheckpointManager
    from padless.train.distributed import World
    from padless.train.loop import train
    from padless.train.pretrain import pretrain_language_model

_EXPORTS = {
    "train": "loop",
    "CheckpointManager": "checkpoint",
    "World": "distributed",
    "pretrain_language_model": "pretrain",
}
__all__ = [
    "CheckpointManager",
    "World",
    "pretrain_language_model",
    "train",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
