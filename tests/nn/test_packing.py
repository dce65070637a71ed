"""padless.nn.packing.pad_packed_sequence returns exactly torch's tensors (values, lengths,
gradients) for every packing, in one index operation; padless.nn.utils serves it to code
written against torch.nn.utils and every other name is torch's own."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn.utils import rnn as torch_rnn

import padless.nn as pnn
from padless.nn.packing import pack_index, pad_packed_sequence
from tests.variants import SMALL_RAGGED


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=SMALL_RAGGED,
    batch_first=st.booleans(),
    enforce_sorted=st.booleans(),
    extra=st.integers(0, 2),
    padding_value=st.sampled_from([0.0, -1.5]),
    seed=st.integers(0, 2**16),
)
def test_pad_packed_sequence_equals_torch(
    lengths, batch_first, enforce_sorted, extra, padding_value, seed
):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    g = torch.Generator().manual_seed(seed)
    t = max(lengths)
    x = torch.randn(len(lengths), t, 3, 2, generator=g)
    x = x if batch_first else x.transpose(0, 1)
    packed = torch_rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    data = packed.data.clone().requires_grad_()
    kwargs = dict(batch_first=batch_first, padding_value=padding_value, total_length=t + extra)
    ps = torch_rnn.PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                  packed.unsorted_indices)  # fmt: skip
    want, want_len = torch_rnn.pad_packed_sequence(ps, **kwargs)
    got, got_len = pad_packed_sequence(ps, **kwargs)
    assert torch.equal(got, want)
    assert torch.equal(got_len, want_len) and got_len.dtype == want_len.dtype
    assert got_len.device == want_len.device
    r = torch.randn(want.shape, generator=g)
    (g_want,) = torch.autograd.grad((want * r).sum(), data)
    (g_got,) = torch.autograd.grad((got * r).sum(), data)
    assert torch.equal(g_got, g_want)
    assert torch.equal(pack_index(packed, got, batch_first), packed.data)


def test_total_length_shorter_than_the_longest_is_torchs_error():
    packed = torch_rnn.pack_padded_sequence(torch.randn(4, 2, 1), torch.tensor([4, 2]))
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(packed, total_length=3)


def test_utils_namespace_is_torchs_but_for_pad_packed_sequence():
    assert pnn.utils.rnn.pad_packed_sequence is pad_packed_sequence
    assert pnn.utils.rnn.pack_padded_sequence is torch_rnn.pack_padded_sequence
    assert pnn.utils.rnn.PackedSequence is torch_rnn.PackedSequence
    assert pnn.utils.clip_grad_norm_ is torch.nn.utils.clip_grad_norm_
    assert pnn.Linear is torch.nn.Linear
