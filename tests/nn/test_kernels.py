"""The fused C++ recurrent layers (padless.nn.kernels) against torch.nn, sequence by sequence.

LSTM oracles: the forward direction is ``nn.LSTM`` over a ``PackedSequence``; the reverse
direction is ``nn.LSTM`` run on each sequence flipped on its own (a per-sequence loop). Every
mode (LSTM, GRU, RNN_TANH, RNN_RELU) x (forward, reverse, bidirectional) is also checked
against ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` run one sequence at a time. Outputs, final states
and the gradients of a random linear loss on (out, h_n, c_n) with respect to x and all four
weights must agree within 1e-5 (abs + rel); double backward (a gradient penalty) must agree
with nn's per-sequence double backward. The extension is compiled once per environment (about a
minute the first time, then loaded).
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
    reason=f"fused RNN extension not available: {kernels.unavailable_reason()}",
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


def test_second_backward_through_the_same_graph_recomputes():
    """The first backward overwrites the saved gates in place (no copy); a second one through
    the same graph (retain_graph=True) recomputes the layer with torch ops instead: same
    gradients, no error."""
    x, lens, lstm = make([3, 2], 0, 2, 3, seed=1)
    x.requires_grad_(True)
    ws = weights(lstm)
    out, h, c = kernels.lstm_layer(x, lens, *ws, reverse=False)
    loss = out.sum() + h.sum() + c.sum()
    first = torch.autograd.grad(loss, [x, *ws], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *ws])
    for a, b in zip(first, second, strict=True):
        assert_close(a, b, "second backward")


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


# -- every mode: LSTM, GRU, RNN_TANH, RNN_RELU -------------------------------------------------
MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")
DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


def make_module(mode, i, h, g):
    if mode == "LSTM":
        m = nn.LSTM(i, h, batch_first=True)
    elif mode == "GRU":
        m = nn.GRU(i, h, batch_first=True)
    else:
        m = nn.RNN(i, h, batch_first=True, nonlinearity=mode[4:].lower())
    # Uniform in +-0.4, or torch's own +-1/sqrt(H) when smaller: with wide layers, larger weights
    # make a chaotic recurrence, where float32 rounding differences grow along the sequence.
    bound = min(0.4, h**-0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    return m


def make_mode(mode, lengths, extra, i, h, seed, directions):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lengths)
    t = max(lengths) + extra
    x = torch.randn(len(lengths), t, i, generator=g)
    x = x * (torch.arange(t)[None, :] < lens[:, None])[..., None]
    return x, lens, [make_module(mode, i, h, g) for _ in directions]


def per_sequence(mode, x, lens, modules, reverse):
    """torch.nn run on each sequence alone (reverse directions on the flipped sequence):
    (out (B, T, D*H) zero at padding, h_n (D, B, H), c_n (D, B, H) or None)."""
    b, t, _ = x.shape
    outs, hs, cs = [], [], []
    for row in range(b):
        n = int(lens[row])
        parts, h_row, c_row = [], [], []
        for m, rev in zip(modules, reverse, strict=True):
            seq = x[row : row + 1, :n]
            o, state = m(seq.flip(1) if rev else seq)
            o = o[0].flip(0) if rev else o[0]
            parts.append(torch.cat([o, o.new_zeros(t - n, o.shape[1])]))
            if mode == "LSTM":
                h_row.append(state[0][0, 0])
                c_row.append(state[1][0, 0])
            else:
                h_row.append(state[0, 0])
        outs.append(torch.cat(parts, -1))
        hs.append(torch.stack(h_row))
        if mode == "LSTM":
            cs.append(torch.stack(c_row))
    c_n = torch.stack(cs, 1) if mode == "LSTM" else None
    return torch.stack(outs), torch.stack(hs, 1), c_n


def mode_weights(modules):
    return [weights(m) for m in modules]


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=case_st)
def test_every_mode_matches_nn_per_sequence(mode, direction, case):
    lengths, extra, i, h, seed = case
    reverse = DIRECTIONS[direction]
    x, lens, mods = make_mode(mode, lengths, extra, i, h, seed, reverse)
    x.requires_grad_(True)
    ws = mode_weights(mods)
    got = kernels.layers_fused(mode, x, lens, ws, reverse)
    ref = per_sequence(mode, x, lens, mods, reverse)
    assert (got[2] is None) == (mode != "LSTM")
    for name, a, b in zip(("out", "h_n", "c_n"), got, ref, strict=True):
        if b is not None:
            assert_close(a, b, f"{mode} {direction} {name}")
    real = (torch.arange(x.shape[1])[None, :] < lens[:, None])[..., None]
    assert bool((got[0] * ~real == 0).all()), "out must be exactly zero at padded steps"
    g = torch.Generator().manual_seed(seed + 1)
    probes = [torch.randn(r.shape, generator=g) if r is not None else None for r in ref]
    used = [k for k, p in enumerate(probes) if p is not None]
    inputs = [x] + [w for ww in ws for w in ww]
    ga = loss_grads([got[k] for k in used], [probes[k] for k in used], inputs)
    gb = loss_grads([ref[k] for k in used], [probes[k] for k in used], inputs)
    names = ["dx"] + [
        f"d{n}[{d}]" for d in range(len(ws)) for n in ("w_ih", "w_hh", "b_ih", "b_hh")
    ]
    for name, a, b in zip(names, ga, gb, strict=True):
        assert_close(a, b, f"{mode} {direction} {name}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h", [3, 16, 40, 130])
def test_every_mode_hidden_sizes_across_vector_tiles(mode, h):
    """Hidden sizes at, between and past the kernels' vector (4 to 16 units) and register-block
    (16 to 64 units) tiles; both directions in one call."""
    reverse = (False, True)
    x, lens, mods = make_mode(mode, [9, 1, 17, 4, 17, 6, 2], 2, 6, h, h, reverse)
    x.requires_grad_(True)
    ws = mode_weights(mods)
    got = kernels.layers_fused(mode, x, lens, ws, reverse)
    ref = per_sequence(mode, x, lens, mods, reverse)
    for name, a, b in zip(("out", "h_n", "c_n"), got, ref, strict=True):
        if b is not None:
            assert_close(a, b, f"{mode} h={h} {name}")
    inputs = [x] + [w for ww in ws for w in ww]
    g = torch.Generator().manual_seed(h)
    probes = [torch.randn(ref[0].shape, generator=g), torch.randn(ref[1].shape, generator=g)]
    for k, (a, b) in enumerate(
        zip(loss_grads(got[:2], probes, inputs), loss_grads(ref[:2], probes, inputs), strict=True)
    ):
        assert_close(a, b, f"{mode} h={h} grad {k}")


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gradient_through_h_n_only_and_no_grad(mode):
    x, lens, mods = make_mode(mode, [5, 2, 7], 1, 3, 4, 3, (False, True))
    ws = mode_weights(mods)
    with torch.no_grad():
        out, h, c = kernels.layers_fused(mode, x, lens, ws, (False, True))
    ref = per_sequence(mode, x, lens, mods, (False, True))
    assert_close(out, ref[0].detach(), "no-grad out")
    assert_close(h, ref[1].detach(), "no-grad h_n")
    # x without grad, loss on h_n only: only the weights get gradients.
    out, h, c = kernels.layers_fused(mode, x, lens, ws, (False, True))
    got = torch.autograd.grad(h.sum(), [w for ww in ws for w in ww])
    want = torch.autograd.grad(ref[1].sum(), [w for ww in ws for w in ww])
    for a, b in zip(got, want, strict=True):
        assert_close(a, b, f"{mode} grad through h_n")


DOUBLE_ATOL, DOUBLE_RTOL = 1e-5, 1e-4  # second derivatives: two float32 products deep


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("mode", MODES)
def test_double_backward_gradient_penalty_matches_nn(mode, direction):
    """``g = grad(loss, x, create_graph=True)``, then ``g.pow(2).sum().backward()``: the fused
    layer's answer (its backward recomputes with differentiable torch ops) is nn's per-sequence
    one, for x and every weight; the first-order g too."""
    reverse = DIRECTIONS[direction]
    lengths = [5, 1, 12, 3, 12]  # a single step, a tie for the longest, unsorted
    x, lens, mods = make_mode(mode, lengths, 2, 3, 5, 17, reverse)
    ws = mode_weights(mods)
    params = [w for ww in ws for w in ww]

    def penalty(run):
        xx = x.clone().requires_grad_(True)
        out, h, c = run(xx)
        loss = out.sum() + 0.5 * h.sum() + (0.3 * c.sum() if c is not None else 0)
        (g,) = torch.autograd.grad(loss, xx, create_graph=True)
        assert g.requires_grad, "create_graph=True must give a differentiable gradient"
        return g, torch.autograd.grad(g.pow(2).sum(), [xx, *params])

    g_got, got = penalty(lambda xx: kernels.layers_fused(mode, xx, lens, ws, reverse))
    g_ref, ref = penalty(lambda xx: per_sequence(mode, xx, lens, mods, reverse))
    assert_close(g_got, g_ref, f"{mode} {direction} first-order g")
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        err = ((a - b).abs() - (DOUBLE_ATOL + DOUBLE_RTOL * b.abs())).max().item()
        assert err <= 0, f"{mode} {direction} double backward {k}: max abs error " + (
            f"{(a - b).abs().max().item():.3g}"
        )


def test_double_backward_with_respect_to_weights_only():
    """A penalty on a weight gradient (x needs no gradient) goes through the recompute too."""
    x, lens, mods = make_mode("GRU", [4, 7, 2], 0, 3, 4, 5, (False, True))
    ws = mode_weights(mods)
    params = [w for ww in ws for w in ww]

    def run(fn):
        out, h, _ = fn()
        (g,) = torch.autograd.grad(out.sum() + h.sum(), ws[1][1], create_graph=True)
        return torch.autograd.grad(g.pow(2).sum(), params, allow_unused=True)

    got = run(lambda: kernels.layers_fused("GRU", x, lens, ws, (False, True)))
    ref = run(lambda: per_sequence("GRU", x, lens, mods, (False, True)))
    for a, b in zip(got, ref, strict=True):
        if b is None:
            assert a is None or bool((a == 0).all())
            continue
        err = ((a - b).abs() - (DOUBLE_ATOL + DOUBLE_RTOL * b.abs())).max().item()
        assert err <= 0, f"max abs error {(a - b).abs().max().item():.3g}"


@pytest.mark.parametrize("mode", MODES)
def test_second_backward_every_mode(mode):
    x, lens, mods = make_mode(mode, [6, 2, 4], 1, 3, 5, 9, (True,))
    x.requires_grad_(True)
    ws = mode_weights(mods)
    out, h, _ = kernels.layers_fused(mode, x, lens, ws, (True,))
    inputs = [x, *ws[0]]
    first = torch.autograd.grad(out.sum() + h.sum(), inputs, retain_graph=True)
    second = torch.autograd.grad(out.sum() + h.sum(), inputs)
    for a, b in zip(first, second, strict=True):
        assert_close(a, b, f"{mode} second backward")


def test_input_changed_in_place_after_forward_still_trains():
    """The fused backward does not read x: changing it in place afterwards is allowed (as
    before); only the recompute path (double backward) refuses, clearly."""
    x, lens, mods = make_mode("LSTM", [3, 2], 0, 2, 3, 1, (False,))
    xx = x.clone().requires_grad_(True)
    y = xx * 1.0
    out, h, c = kernels.layers_fused("LSTM", y, lens, mode_weights(mods), (False,))
    with torch.no_grad():
        y.add_(1.0)
    (out.sum() + h.sum()).backward()
    assert xx.grad is not None
    out, h, c = kernels.layers_fused("LSTM", y, lens, mode_weights(mods), (False,))
    with torch.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="in place"):
        torch.autograd.grad(out.sum(), xx, create_graph=True)


def test_supports_and_mode_errors():
    for mode in MODES:
        assert kernels.supports(mode)
    assert not kernels.supports("LSTMP")
    x, lens, mods = make_mode("GRU", [3, 2], 0, 2, 3, 1, (False,))
    ws = mode_weights(mods)
    with pytest.raises(ValueError, match="mode"):
        kernels.layers_fused("gru", x, lens, ws, (False,))
    with pytest.raises(RuntimeError, match="w_ih"):  # GRU weights (3H rows) as an LSTM's
        kernels.layers_fused("LSTM", x, lens, ws, (False,))
    with pytest.raises(RuntimeError, match="w_hh"):
        kernels.layers_fused("GRU", x, lens, [(ws[0][0], ws[0][1][:, :2], *ws[0][2:])], (False,))
    with pytest.raises(RuntimeError, match="b_ih"):
        kernels.layers_fused("GRU", x, lens, [(*ws[0][:2], ws[0][2][:-1], ws[0][3])], (False,))
    with pytest.raises(ValueError, match="one entry per direction"):
        kernels.layers_fused("GRU", x, lens, ws, (False, True))


def test_supports_is_false_when_disabled(monkeypatch):
    monkeypatch.setenv("PADLESS_NO_EXT", "1")
    assert not any(kernels.supports(m) for m in MODES)
    monkeypatch.delenv("PADLESS_NO_EXT")
    assert kernels.supports("GRU")


@pytest.mark.parametrize("mode", ["GRU", "RNN_RELU"])
def test_every_mode_thread_count_does_not_change_results(mode):
    x, lens, mods = make_mode(mode, [12, 3, 8, 12, 1, 6, 9, 9, 4], 0, 5, 8, 11, (False, True))
    ws = mode_weights(mods)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            xx = x.clone().requires_grad_(True)
            out, h, _ = kernels.layers_fused(mode, xx, lens, ws, (False, True))
            grads = loss_grads([out, h], [torch.ones_like(out), torch.ones_like(h)], [xx, *ws[1]])
            results.append([out, h, *grads])
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert_close(a, b, "threads")


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_inference_mode_with_trainable_weights(mode):
    """Under torch.inference_mode (the predictor's) nothing is saved for backward, even though
    the weights require grad: inference tensors have no version counter."""
    g = torch.Generator().manual_seed(0)
    gates = kernels.MODES[mode][1]  # (code, gate blocks)
    h = 3
    ws = [
        torch.randn(gates * h, 2, generator=g, requires_grad=True),
        torch.randn(gates * h, h, generator=g, requires_grad=True),
        torch.randn(gates * h, generator=g, requires_grad=True),
        torch.randn(gates * h, generator=g, requires_grad=True),
    ]
    x = torch.randn(2, 4, 2, generator=g)
    lengths = torch.tensor([4, 2])
    with torch.inference_mode():
        out = kernels.layers_fused(mode, x, lengths, [ws], [False])[0]
    with torch.no_grad():
        want = kernels.layers_fused(mode, x, lengths, [ws], [False])[0]
    assert torch.equal(out, want)
