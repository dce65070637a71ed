"""The epoch book: best epoch, early stopping, and its checkpointed state."""

import pytest
import torch

from padless.config import TrainConfig
from padless.train.checkpoint import CheckpointManager
from padless.train.epochs import EpochBook, monitor_for


@pytest.mark.parametrize(
    "monitor, task, expected",
    [
        ("auto", "multiclass", ("accuracy", "max")),
        ("auto", "regression", ("loss", "min")),
        ("macro_f1", "multilabel", ("macro_f1", "max")),
        ("mae", "regression", ("mae", "min")),
        ("loss", "binary", ("loss", "min")),
    ],
)
def test_monitor_and_its_direction(monitor, task, expected):
    assert monitor_for(TrainConfig(monitor=monitor), task) == expected


def test_best_epoch_and_early_stopping():
    book = EpochBook("max")
    weights = iter([{"w": torch.tensor(1.0)}, {"w": torch.tensor(2.0)}])
    for epoch, value in enumerate([0.5, 0.7, 0.7, 0.6], start=1):
        book.observe(value, epoch, lambda: next(weights), patience=2)
        assert not book.stopped or epoch == 4
    assert book.best_value == 0.7 and book.best_epoch == 2  # a tie is no improvement
    assert book.best_state is not None and book.best_state["w"].item() == 2.0
    assert book.bad_epochs == 2 and book.stopped


def test_minimised_values_and_no_patience_never_stop():
    book = EpochBook("min")
    for epoch, value in enumerate([1.0, 0.5, 0.9, 0.8, 0.7], start=1):
        book.observe(value, epoch, lambda: None, patience=0)
    assert (book.best_epoch, book.best_value, book.bad_epochs) == (2, 0.5, 3)
    assert not book.stopped and book.best_state is None


def test_state_survives_a_checkpoint_and_old_ones_without_pretrain_load(tmp_path):
    book = EpochBook("max")
    book.history.append({"epoch": 1, "train_loss": 0.3})
    book.observe(0.8, 1, lambda: {"w": torch.ones(2)}, patience=3)
    book.pretrain = [{"epoch": 1, "lm_loss": 4.0}]
    state = book.state()
    assert set(state) == {
        "history",
        "best_value",
        "best_epoch",
        "best_state",
        "bad_epochs",
        "stopped",
        "pretrain",
    }
    ckpts = CheckpointManager(tmp_path)
    ckpts.save(1, {"book": state})
    again = EpochBook("max")
    again.load(ckpts.load()["book"])
    assert again.state().keys() == state.keys()
    assert again.history == book.history and again.pretrain == book.pretrain
    assert torch.equal(again.best_state["w"], torch.ones(2))
    older = {k: v for k, v in state.items() if k != "pretrain"}
    again.load(older)
    assert again.pretrain == []
