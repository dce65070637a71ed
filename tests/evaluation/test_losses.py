"""padless.evaluation.losses: the loss and running accuracy of each task; tagging counts real
steps only."""

import numpy as np
import pytest
import torch

from padless.batching.batch import IGNORE_INDEX
from padless.evaluation.losses import compute_loss, correct_count


def test_tagging_loss_ignores_padded_steps():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3)
    targets = torch.tensor([[0, 2, 1, IGNORE_INDEX], [1, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    real = [(0, 0), (0, 1), (0, 2), (1, 0)]
    manual = torch.stack(
        [
            torch.nn.functional.cross_entropy(logits[b, t][None], targets[b, t][None])
            for b, t in real
        ]
    )
    torch.testing.assert_close(compute_loss(logits, targets, "tagging"), manual.mean())
    # changing the logits at padded steps changes nothing
    noisy = logits.clone()
    noisy[0, 3] += 100
    noisy[1, 1:] -= 100
    torch.testing.assert_close(compute_loss(noisy, targets, "tagging"), manual.mean())
    assert correct_count(noisy, targets, "tagging")[1] == 4


def test_losses_by_task():
    logits = torch.tensor([[2.0], [-1.0]])
    y = torch.tensor([1, 0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    torch.testing.assert_close(compute_loss(logits, y, "binary"), expected)
    reg = compute_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 3.0]), "regression")
    assert float(reg) == pytest.approx(0.5)
    ml = compute_loss(torch.zeros(2, 3), torch.ones(2, 3), "multilabel")
    assert float(ml) == pytest.approx(np.log(2), rel=1e-6)


def test_regression_loss_with_several_targets_and_a_width_mismatch():
    from padless.errors import DataError

    logits = torch.tensor([[1.0, 10.0], [3.0, 0.0]])
    targets = torch.tensor([[2.0, 10.0], [3.0, 4.0]])  # errors 1, 0, 0, 4 -> (1 + 16) / 4
    assert float(compute_loss(logits, targets, "regression")) == pytest.approx(17 / 4)
    assert correct_count(logits, targets, "regression") == (0, 0)
    with pytest.raises(DataError, match=r"2 target\(s\) per row.*shape \(2,\)"):
        compute_loss(logits, torch.tensor([2.0, 3.0]), "regression")  # never broadcast
