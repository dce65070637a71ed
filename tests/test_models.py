"""The slice's model must equal a per-sequence loop on ragged batches, for every cell,
direction count and pooling (issue 3 widens this into the full shared suite)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.models import SequenceClassifier, lengths_mask, reverse_within_length

CASES = [
    (c, b, p)
    for c in ("lstm", "gru", "rnn")
    for b in (False, True)
    for p in ("last", "mean", "max")
]


def make(cell, bidirectional, pooling, features=False):
    torch.manual_seed(0)
    kw = {"num_features": 3} if features else {"vocab_size": 30}
    return SequenceClassifier(
        num_outputs=2,
        embedding_dim=8,
        hidden_size=6,
        cell=cell,
        num_layers=2,
        bidirectional=bidirectional,
        pooling=pooling,
        **kw,
    ).eval()


def pad(seqs, extra=0):
    t = max(len(s) for s in seqs) + extra
    x = torch.zeros(len(seqs), t, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.tensor(s)
    return x, torch.tensor([len(s) for s in seqs])


ragged = st.lists(
    st.one_of(
        st.lists(st.integers(1, 29), min_size=1, max_size=12),
        st.lists(st.integers(1, 29), min_size=30, max_size=40),
    ),  # long outlier
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("cell, bidirectional, pooling", CASES)
@settings(max_examples=15, deadline=None)
@given(seqs=ragged, extra=st.integers(0, 5))
def test_batch_equals_per_sequence_loop(cell, bidirectional, pooling, seqs, extra):
    model = make(cell, bidirectional, pooling)
    with torch.no_grad():
        x, lengths = pad(seqs, extra)
        batched = model(x, lengths)
        single = torch.cat([model(torch.tensor([s]), torch.tensor([len(s)])) for s in seqs])
        flipped = model(x.flip(0), lengths.flip(0)).flip(0)  # another batch order
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    torch.testing.assert_close(flipped, single, atol=1e-5, rtol=0)


def test_numeric_inputs_and_equal_lengths():
    model = make("lstm", True, "mean", features=True)
    x = torch.randn(4, 7, 3)
    lengths = torch.full((4,), 7)
    with torch.no_grad():
        out = model(x, lengths)
        ref = torch.cat([model(x[i : i + 1], lengths[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_reverse_within_length_is_an_involution():
    x = torch.arange(12.0).reshape(2, 6)
    lengths = torch.tensor([4, 2])
    r = reverse_within_length(x, lengths)
    assert r.tolist() == [[3, 2, 1, 0, 4, 5], [7, 6, 8, 9, 10, 11]]
    assert torch.equal(reverse_within_length(r, lengths), x)
    assert lengths_mask(lengths, 5).sum().item() == 6


def test_zero_length_is_a_clear_error():
    model = make("lstm", False, "mean")
    with pytest.raises(ValueError, match="rows \\[1\\] have length 0"):
        model(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]))
