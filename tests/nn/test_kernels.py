"""The fused C++ LSTM layer (padless.nn.kernels) against torch.nn.LSTM, sequence by sequence.

Oracles: the forward direction is ``nn.LSTM`` over a ``PackedSequence``; the reverse direction
is ``nn.LSTM`` run on each sequence flipped on its own (a per-sequence loop). Outputs, final
states and the gradients of a random linear loss on (out, h_n, c_n) with respect to x and all
four weights must agree within 1e-5. The extension is compiled once per session (about 20 s
the first time, then loaded from the torch extensions cache).
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from padless.nn import kernels
from tests.variants import SMALL_RAGGED

pytestmark = pytest.mark.skipif(
    not kernels.available(),
    reason=f"fused LSTM extension not available: {kernels.unavailable_reason()}",
)

ATOL = RTOL = 1e-5  # |a - b| <= ATOL + RTOL * |b|, torch.allclose's rule

# Ragged batches (tests/variants.py): single steps, all-equal lengths, one long outlier among
# short ones; rows in any order (nothing is sorted), and T may exceed the longest sequence.
case_st = st.tuples(
    SMALL_RAGGED,
    st.integers(0, 3),  # extra padding past the longest sequence
    st.integers(1, 7),  # input size F
    st.integers(1, 8),  # hidden size H
    st.integers(0, 2**16),  # seed
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make(lengths, extra, i, h, seed):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lengths)
    t = max(lengths) + extra
    x = torch.randn(len(lengths), t, i, generator=g)
    x = x * (torch.arange(t)[None, :] < lens[:, None])[..., None]  # zero padding, like collate
    lstm = nn.LSTM(i, h, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 0.8 - 0.4)
    return x, lens, lstm


def weights(lstm):
    return [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]


def reference(x, lens, lstm, reverse):
    """(out (B, T, H) zero at padding, h_n (B, H), c_n (B, H)) from torch.nn.LSTM."""
    b, t, _ = x.shape
    if not reverse:
        packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        out, (h, c) = lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        return out, h[0], c[0]
    outs, hs, cs = [], [], []
    for row in range(b):
        n = int(lens[row])
        seq = x[row, :n].flip(0)[None]
        o, (h, c) = lstm(seq)
        o = o[0].flip(0)
        outs.append(torch.cat([o, o.new_zeros(t - n, o.shape[1])]))
        hs.append(h[0, 0])
        cs.append(c[0, 0])
    return torch.stack(outs), torch.stack(hs), torch.stack(cs)


def loss_grads(result, probes, inputs):
    loss = sum((r * p).sum() for r, p in zip(result, probes, strict=True))
    return torch.autograd.grad(loss, inputs)


def assert_close(a, b, what):
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel():
        excess = ((a - b).abs() - (ATOL + RTOL * b.abs())).max().item()
        err = (a - b).abs().max().item()
        assert excess <= 0, f"{what}: max abs error {err:.3g} (|ref| up to {b.abs().max():.3g})"


def check_direction(x, lens, lstm, reverse, seed):
    x = x.clone().requires_grad_(True)
    ws = weights(lstm)
    ref = reference(x, lens, lstm, reverse)
    got = kernels.lstm_layer(x, lens, *ws, reverse=reverse)
    for name, a, b in zip(("out", "h_n", "c_n"), got, ref, strict=True):
        assert_close(a, b, name)
    real = (torch.arange(x.shape[1])[None, :] < lens[:, None])[..., None]
    assert bool((got[0] * ~real == 0).all()), "out must be exactly zero at padded steps"
    g = torch.Generator().manual_seed(seed + 1)
    probes = [torch.randn(r.shape, generator=g) for r in ref]
    inputs = [x, *ws]
    names = ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh"]
    for name, a, b in zip(
        names, loss_grads(got, probes, inputs), loss_grads(ref, probes, inputs), strict=True
    ):
        assert_close(a, b, name)


@SETTINGS
@given(case_st)
def test_forward_direction_matches_packed_nn_lstm(case):
    lengths, extra, i, h, seed = case
    x, lens, lstm = make(lengths, extra, i, h, seed)
    check_direction(x, lens, lstm, False, seed)


@SETTINGS
@given(case_st)
def test_reverse_direction_matches_per_sequence_flip(case):
    lengths, extra, i, h, seed = case
    x, lens, lstm = make(lengths, extra, i, h, seed)
    check_direction(x, lens, lstm, True, seed)


@SETTINGS
@given(case_st)
def test_bidirectional_call_equals_two_directions(case):
    """bilstm_layer (both directions in one call) = the two single-direction calls."""
    lengths, extra, i, h, seed = case
    x, lens, fwd = make(lengths, extra, i, h, seed)
    _, _, bwd = make(lengths, extra, i, h, seed + 7)
    x = x.requires_grad_(True)
    params = [x, *weights(fwd), *weights(bwd)]
    of, hf, cf = kernels.lstm_layer(x, lens, *weights(fwd), reverse=False)
    orv, hr, cr = kernels.lstm_layer(x, lens, *weights(bwd), reverse=True)
    sep = (torch.cat([of, orv], -1), torch.stack([hf, hr]), torch.stack([cf, cr]))
    both = kernels.bilstm_layer(x, lens, weights(fwd), weights(bwd))
    for name, a, b in zip(("out", "h_n", "c_n"), both, sep, strict=True):
        assert_close(a, b, name)
    g = torch.Generator().manual_seed(seed)
    probes = [torch.randn(r.shape, generator=g) for r in sep]
    for k, (a, b) in enumerate(
        zip(loss_grads(both, probes, params), loss_grads(sep, probes, params), strict=True)
    ):
        assert_close(a, b, f"grad {k}")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("h", [16, 40, 130])
def test_hidden_sizes_across_vector_tiles(reverse, h):
    """Hidden sizes at, between and past the kernels' 16- and 64-unit tiles."""
    x, lens, lstm = make([9, 1, 17, 4, 17], 2, 6, h, seed=h)
    check_direction(x, lens, lstm, reverse, seed=h)


@pytest.mark.parametrize("which", ["out", "h_n", "c_n"])
def test_gradient_through_one_output_only(which):
    """Unused outputs get no gradient (None): each path on its own must still be exact."""
    x, lens, lstm = make([5, 2, 7], 1, 3, 4, seed=3)
    x.requires_grad_(True)
    ws = weights(lstm)
    k = ("out", "h_n", "c_n").index(which)
    for reverse in (False, True):
        got = kernels.lstm_layer(x, lens, *ws, reverse=reverse)[k]
        ref = reference(x, lens, lstm, reverse)[k]
        probe = torch.randn(ref.shape, generator=torch.Generator().manual_seed(5))
        for a, b in zip(
            loss_grads([got], [probe], [x, *ws]), loss_grads([ref], [probe], [x, *ws]), strict=True
        ):
            assert_close(a, b, f"{which} reverse={reverse}")


def test_thread_count_does_not_change_results():
    x, lens, lstm = make([12, 3, 8, 12, 1, 6], 0, 5, 8, seed=11)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            xx = x.clone().requires_grad_(True)
            out = kernels.lstm_layer(xx, lens, *weights(lstm), reverse=True)
            grads = loss_grads(out, [torch.ones_like(o) for o in out], [xx, *weights(lstm)])
            results.append([*out, *grads])
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert_close(a, b, "threads")


def test_no_grad_inference_and_input_without_grad():
    x, lens, lstm = make([4, 6, 2], 0, 3, 5, seed=2)
    with torch.no_grad():
        out, h, c = kernels.lstm_layer(x, lens, *weights(lstm), reverse=False)
    ref = reference(x, lens, lstm, False)
    assert_close(out, ref[0].detach(), "out")
    # x without grad: only the weights get gradients.
    out, h, c = kernels.lstm_layer(x, lens, *weights(lstm), reverse=True)
    (out.sum() + h.sum()).backward()
    assert lstm.weight_hh_l0.grad is not None and x.grad is None


def test_inference_mode_then_training_reuses_no_inference_buffers():
    # Pooled workspace blocks first allocated under torch.inference_mode are inference tensors;
    # handing one to a later call that autograd records would fail ("Inference tensors cannot
    # be saved for backward"): predict, then train, in one process.
    x, lens, lstm = make([9, 4, 7], 1, 3, 6, seed=5)
    for _ in range(2):
        with torch.inference_mode():
            kernels.lstm_layer(x, lens, *weights(lstm), reverse=False)
        xg = x.clone().requires_grad_(True)
        out, h, c = kernels.lstm_layer(xg, lens, *weights(lstm), reverse=False)
        (out.sum() + h.sum() + c.sum()).backward()
        assert xg.grad is not None and torch.isfinite(xg.grad).all()


def test_second_backward_raises():
    """The first backward overwrites the saved gates in place (no copy): a second one through
    the same graph (retain_graph=True) must fail loudly, not return wrong gradients."""
    x, lens, lstm = make([3, 2], 0, 2, 3, seed=1)
    out, _, _ = kernels.lstm_layer(x, lens, *weights(lstm), reverse=False)
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="twice"):
        out.sum().backward()


def test_bad_inputs_raise():
    x, lens, lstm = make([3, 2], 0, 2, 3, seed=1)
    ws = weights(lstm)
    with pytest.raises(ValueError, match="float32"):
        kernels.lstm_layer(x.double(), lens, *ws, reverse=False)
    with pytest.raises(RuntimeError, match="lengths"):
        kernels.lstm_layer(x, torch.tensor([4, 2]), *ws, reverse=False)
    with pytest.raises(RuntimeError, match="lengths"):
        kernels.lstm_layer(x, torch.tensor([0, 2]), *ws, reverse=False)
    with pytest.raises(RuntimeError, match="w_hh"):
        kernels.lstm_layer(x, lens, ws[0], ws[1][:, :2], ws[2], ws[3], reverse=False)


def test_env_switch_disables(monkeypatch):
    monkeypatch.setenv("PADLESS_NO_EXT", "1")
    assert not kernels.available()
    assert "PADLESS_NO_EXT" in kernels.unavailable_reason()
    monkeypatch.delenv("PADLESS_NO_EXT")
    assert kernels.available()
