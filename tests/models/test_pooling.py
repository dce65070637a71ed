"""MaskedPooling reads real steps only, whatever the padding holds, and pools an empty row to
zeros (never NaN or -inf), as AllenNLP's masked mean / max / softmax do."""

import pytest
import torch

from padless.models.pooling import MaskedPooling

KINDS = ["last", "mean", "max", "attention"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("directions", [1, 2])
def test_padding_values_never_count(kind, directions):
    torch.manual_seed(0)
    pool = MaskedPooling(kind, 6, directions)
    lengths = torch.tensor([4, 1, 2])
    x = torch.randn(3, 4, 6)
    garbage = x.clone()
    for row, n in enumerate(lengths.tolist()):
        garbage[row, n:] = 1e6  # huge values where the padding is
    assert torch.allclose(pool(x * 0 + garbage, lengths), pool(_zero_padding(x, lengths), lengths))


def _zero_padding(x, lengths):
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x * mask[..., None]


@pytest.mark.parametrize("kind", KINDS)
def test_each_row_pools_as_if_alone(kind):
    torch.manual_seed(1)
    pool = MaskedPooling(kind, 6, 2)
    lengths = torch.tensor([4, 1, 3])
    x = _zero_padding(torch.randn(3, 4, 6), lengths)
    batch = pool(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        alone = pool(x[row : row + 1, :n], lengths[row : row + 1])
        assert torch.allclose(batch[row], alone[0], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_rows_pool_to_zeros(kind):
    pool = MaskedPooling(kind, 6, 2)
    lengths = torch.tensor([0, 2, 0])
    x = torch.randn(3, 3, 6)
    out = pool(x, lengths)
    assert torch.isfinite(out).all()
    assert out[0].abs().sum() == 0 and out[2].abs().sum() == 0
    assert out[1].abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_empty_rows_have_finite_gradients(kind):
    pool = MaskedPooling(kind, 6, 1)
    x = torch.randn(2, 3, 6, requires_grad=True)
    pool(x, torch.tensor([0, 3])).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0].abs().sum() == 0
    assert all(torch.isfinite(p.grad).all() for p in pool.parameters())
