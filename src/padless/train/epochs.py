"""The epoch book: what a training run remembers from one epoch to the next.

:class:`EpochBook` holds the per-epoch records (the lines of ``metrics.jsonl``), the best
monitored value with its epoch and weights, the early-stopping count and the language-model
pre-training records. Its :meth:`~EpochBook.state` goes into every epoch checkpoint under
``"book"`` and :meth:`~EpochBook.load` restores it on ``--resume``, so a resumed run picks the
same best epoch and stops at the same epoch as an uninterrupted one.

:func:`monitor_for` names the validation metric that decides "best" (``train.monitor``) and
whether it is minimised or maximised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from padless.config import TrainConfig
from padless.train.schedule import Mode

MINIMISED = ("loss", "mse", "rmse", "mae")


def monitor_for(t: TrainConfig, task: str) -> tuple[str, Mode]:
    """(metric, mode): ``train.monitor``, where ``"auto"`` is the loss for regression and the
    accuracy otherwise; losses and errors (:data:`MINIMISED`) are minimised, the rest maximised."""
    key = t.monitor if t.monitor != "auto" else ("loss" if task == "regression" else "accuracy")
    return key, "min" if key in MINIMISED else "max"


class EpochBook:
    """Per-epoch bookkeeping: history, best value / epoch / weights, early-stopping count."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.stopped = False
        self.pretrain: list[dict[str, Any]] = []  # language-model pre-training epochs

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (always true for the first epoch)."""
        if self.best_value is None:
            return True
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def observe(
        self, value: float, epoch: int, snapshot: Callable[[], dict[str, Any] | None], patience: int
    ) -> None:
        """Account epoch ``epoch`` (1-based) whose monitored value is ``value``.

        On improvement ``snapshot()`` (a copy of the model's weights, or ``None`` when there is
        no validation split to choose by) becomes the best state; otherwise the bad-epoch count
        grows and, with ``patience`` > 0, reaching it sets :attr:`stopped`.
        """
        if self.improved(value):
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = snapshot()
            return
        self.bad_epochs += 1
        if patience and self.bad_epochs >= patience:
            self.stopped = True

    def state(self) -> dict[str, Any]:
        """Everything above as plain containers (a checkpoint's ``"book"``)."""
        return {
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "pretrain": self.pretrain,
        }

    def load(self, s: dict[str, Any]) -> None:
        """Restore :meth:`state` (checkpoints from before pre-training existed lack it)."""
        self.history, self.best_value = list(s["history"]), s["best_value"]
        self.best_epoch, self.best_state = s["best_epoch"], s["best_state"]
        self.bad_epochs, self.stopped = s["bad_epochs"], s["stopped"]
        self.pretrain = list(s.get("pretrain", []))
