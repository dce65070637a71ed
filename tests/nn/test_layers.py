"""The shared exactness suite of the drop-in layers: padless.nn.LSTM / GRU / RNN against torch.nn
run one sequence at a time.

Every mode (LSTM, GRU, RNN tanh, RNN relu) x direction x depth (1-3) x dtype (float32 with the
fused kernel on and off, float64) x input form (PackedSequence; padded + lengths, batch_first
both ways; full-length padded without lengths) x initial state (none, random ``hx``) runs on a
ragged batch with a length-0 row and a length-1 row; outputs, final states and the gradients of
a random linear loss with respect to the input, the initial state and every weight must equal
the oracle's: ``torch.nn``'s own layer (same state dict) over each sequence alone, the way
PyTorch's ``test_variable_sequence`` checks packed RNNs (float32: atol 1e-5, rtol 1.3e-6 as its
assertEqual; float64: 1e-7). A length-0 row's oracle is AllenNLP's: zero outputs and the initial
state back. gradgradcheck (float64) and double-backward equality (float32, kernel on) follow,
then ragged batches drawn by hypothesis, the nn API's edge cases and its errors.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import padless.nn as pnn
from padless.nn import kernels
from tests.variants import SMALL_RAGGED

# mode: (torch class, padless class, constructor extras)
MODES = {
    "LSTM": (nn.LSTM, pnn.LSTM, {}),
    "GRU": (nn.GRU, pnn.GRU, {}),
    "RNN_TANH": (nn.RNN, pnn.RNN, {"nonlinearity": "tanh"}),
    "RNN_RELU": (nn.RNN, pnn.RNN, {"nonlinearity": "relu"}),
}
FORMS = ("packed", "lengths", "lengths_batch_first", "full_batch_first")
# (dtype, kernel on): the kernel only ever runs float32, so float64 runs once.
PRECISIONS = ((torch.float32, True), (torch.float32, False), (torch.float64, False))
TOL = {torch.float32: dict(atol=1e-5, rtol=1.3e-6), torch.float64: dict(atol=1e-7, rtol=1e-7)}
LENGTHS = [5, 0, 1, 7, 3, 7]  # ragged, unsorted, an empty row, a single step, a tie at T
F_IN, H, P = 4, 5, 3


def make_pair(mode, dtype, **kwargs):
    """(torch layer, padless layer) with the same random weights."""
    torch_cls, padless_cls, extra = MODES[mode]
    ref = torch_cls(F_IN, H, dtype=dtype, **extra, **kwargs)
    ours = padless_cls(F_IN, H, dtype=dtype, **extra, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def state_parts(state):
    return list(state) if isinstance(state, tuple) else [state]


def initial_state(ref, batch, dtype, gen):
    n = ref.num_layers * (2 if ref.bidirectional else 1)
    h0 = torch.randn(n, batch, getattr(ref, "proj_size", 0) or H, dtype=dtype, generator=gen)
    if isinstance(ref, nn.LSTM):
        return h0, torch.randn(n, batch, H, dtype=dtype, generator=gen)
    return h0


def oracle(ref, x, lengths, hx):
    """torch.nn over each sequence alone: out (B, T, D*P), final state parts (each (L*D, B, .)).
    A length-0 row: zero outputs, its initial state back."""
    b, t = x.shape[:2]
    outs, states = [], []
    for i, n in enumerate(lengths):
        h_i = None
        if hx is not None:
            h_i = tuple(s[:, i : i + 1] for s in hx) if isinstance(hx, tuple) else hx[:, i : i + 1]
        if n == 0:
            d = 2 if ref.bidirectional else 1
            outs.append(x.new_zeros(t, d * (getattr(ref, "proj_size", 0) or H)) + 0 * x[i].sum())
            zeros = ref(x[i : i + 1, :1].transpose(0, 1).detach(), h_i)[1]  # shapes only
            if h_i is None:
                states.append([torch.zeros_like(s) for s in state_parts(zeros)])
            else:
                states.append(state_parts(h_i))
            continue
        out, state = ref(x[i : i + 1, :n].transpose(0, 1), h_i)  # time-major, one row
        outs.append(nn.functional.pad(out[:, 0], (0, 0, 0, t - n)))
        states.append(state_parts(state))
    parts = [torch.cat([s[k] for s in states], dim=1) for k in range(len(states[0]))]
    return torch.stack(outs), parts


def call(ours, form, x, lengths, hx):
    """The padless layer over (B, T, F) ``x`` in one input form → out (B, T, D*P), parts."""
    lens = torch.tensor(lengths)
    if form == "packed":
        nz = [i for i, n in enumerate(lengths) if n > 0]
        assert len(nz) == len(lengths), "PackedSequence cannot hold empty rows"
        packed = pack_padded_sequence(x.transpose(0, 1), lens, enforce_sorted=False)
        out, state = ours(packed, hx)
        assert isinstance(out, PackedSequence)
        padded, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return padded, state_parts(state)
    if form == "full_batch_first":
        out, state = ours(x, hx)
        return out, state_parts(state)
    if form == "lengths":
        out, state = ours(x.transpose(0, 1), hx, lengths=lens)
        return out.transpose(0, 1), state_parts(state)
    out, state = ours(x, hx, lengths=lens)
    return out, state_parts(state)


def assert_close(a, b, dtype, what):
    tol = TOL[dtype]
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    assert torch.allclose(a, b, **tol), f"{what}: max |diff| {(a - b).abs().max().item():.3g}"


def check_against_oracle(ref, ours, form, lengths, dtype, with_hx, seed=0):
    """Outputs, final states and gradients (x, hx, every weight) equal the oracle's."""
    gen = torch.Generator().manual_seed(seed)
    if form == "full_batch_first":
        lengths = [max(lengths)] * len(lengths)
    t = max(lengths, default=0) + 1  # one padded step past the longest row
    if form == "full_batch_first":
        t = max(lengths, default=0)
    x = torch.randn(len(lengths), t, F_IN, dtype=dtype, generator=gen)
    hx = initial_state(ref, len(lengths), dtype, gen) if with_hx else None
    leaves_ref = [x.clone().requires_grad_()]
    leaves_ours = [x.clone().requires_grad_()]
    hx_ref = hx_ours = None
    if hx is not None:
        hx_ref = tuple(s.clone().requires_grad_() for s in state_parts(hx))
        hx_ours = tuple(s.clone().requires_grad_() for s in state_parts(hx))
        leaves_ref += list(hx_ref)
        leaves_ours += list(hx_ours)
        if not isinstance(ref, nn.LSTM):
            hx_ref, hx_ours = hx_ref[0], hx_ours[0]
    out_r, parts_r = oracle(ref, leaves_ref[0], lengths, hx_ref)
    out_o, parts_o = call(ours, form, leaves_ours[0], lengths, hx_ours)
    assert_close(out_o, out_r, dtype, "outputs")
    for k, (a, b) in enumerate(zip(parts_o, parts_r, strict=True)):
        assert_close(a, b, dtype, f"final state {k}")
    weights = [torch.randn(out_r.shape, dtype=dtype, generator=gen)]
    weights += [torch.randn(p.shape, dtype=dtype, generator=gen) for p in parts_r]

    def loss(out, parts):
        return sum((w * v).sum() for w, v in zip(weights, [out, *parts], strict=True))

    def grads(out, parts, wrt):  # an all-empty batch leaves the weights out of the graph
        got = torch.autograd.grad(loss(out, parts), wrt, allow_unused=True)
        return [torch.zeros_like(w) if g is None else g for g, w in zip(got, wrt, strict=True)]

    grads_r = grads(out_r, parts_r, leaves_ref + list(ref.parameters()))
    grads_o = grads(out_o, parts_o, leaves_ours + list(ours.parameters()))
    names = ["x"] + [f"hx[{i}]" for i in range(len(leaves_ref) - 1)]
    names += [n for n, _ in ref.named_parameters()]
    for name, a, b in zip(names, grads_o, grads_r, strict=True):
        assert_close(a, b, dtype, f"gradient of {name}")


GRID = [
    pytest.param(mode, bi, layers, dtype, kernel, form, with_hx,
                 id=f"{mode}-{'bi' if bi else 'uni'}-L{layers}-{str(dtype)[6:]}"
                 f"{'-kernel' if kernel else ''}-{form}{'-hx' if with_hx else ''}")
    for mode, bi, layers, (dtype, kernel), form, with_hx in itertools.product(
        MODES, (False, True), (1, 2, 3), PRECISIONS, FORMS, (False, True)
    )
]  # fmt: skip


@pytest.mark.parametrize(("mode", "bi", "layers", "dtype", "kernel", "form", "with_hx"), GRID)
def test_layer_equals_torch_per_sequence(mode, bi, layers, dtype, kernel, form, with_hx):
    torch.manual_seed(0)
    ref, ours = make_pair(
        mode, dtype, num_layers=layers, bidirectional=bi, batch_first=form.endswith("first")
    )
    ref.batch_first = False  # the oracle feeds time-major single rows
    ours.use_kernel = kernel
    lengths = [n for n in LENGTHS if n > 0] if form == "packed" else LENGTHS
    check_against_oracle(ref, ours, form, lengths, dtype, with_hx)


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_lstm_projection_equals_torch_per_sequence(bi, with_hx):
    torch.manual_seed(1)
    ref, ours = make_pair("LSTM", torch.float32, num_layers=2, bidirectional=bi, proj_size=P)
    check_against_oracle(ref, ours, "lengths", LENGTHS, torch.float32, with_hx)


@pytest.mark.parametrize("bias", [False])
@pytest.mark.parametrize("mode", MODES)
def test_no_bias_equals_torch_per_sequence(mode, bias):
    torch.manual_seed(2)
    ref, ours = make_pair(mode, torch.float32, num_layers=2, bidirectional=True, bias=bias)
    check_against_oracle(ref, ours, "lengths", LENGTHS, torch.float32, with_hx=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.one_of(SMALL_RAGGED, st.lists(st.integers(0, 6), max_size=5)),
    mode=st.sampled_from(list(MODES)),
    bi=st.booleans(),
    with_hx=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_ragged_batches_equal_torch_per_sequence(lengths, mode, bi, with_hx, seed):
    """Any lengths (0 and 1, all equal, one long outlier, a batch of 0) in float32 with the
    kernel, padded + lengths."""
    torch.manual_seed(seed)
    ref, ours = make_pair(mode, torch.float32, num_layers=2, bidirectional=bi)
    if not lengths:  # a batch of 0: empty outputs of the right shapes
        x = torch.zeros(3, 0, F_IN)  # time-major: T = 3, B = 0
        out, state = ours(x, lengths=torch.zeros(0, dtype=torch.long))
        assert out.shape == (3, 0, (2 if bi else 1) * H)
        assert all(s.shape == (2 * (2 if bi else 1), 0, H) for s in state_parts(state))
        return
    check_against_oracle(ref, ours, "lengths", lengths, torch.float32, with_hx, seed)


# ------------------------------------------------------------------- second-order gradients
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bi", [False, True])
def test_gradgradcheck_float64(mode, bi):
    """Second derivatives through two layers, with an initial state and an empty row (sizes
    kept tiny: gradgradcheck differentiates the backward numerically)."""
    torch.manual_seed(3)
    torch_cls, padless_cls, extra = MODES[mode]
    ours = padless_cls(2, 2, num_layers=2, bidirectional=bi, batch_first=True,
                       dtype=torch.float64, **extra)  # fmt: skip
    params = dict(ours.named_parameters())
    names = list(params)
    lengths = torch.tensor([3, 1, 0])
    x = torch.randn(3, 3, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2 * (2 if bi else 1), 3, 2, dtype=torch.float64, requires_grad=True)
    w_ih = params[names[0]].detach().clone().requires_grad_()

    def fn(x, h0, w_ih):
        ps = {**{n: p.detach() for n, p in params.items()}, names[0]: w_ih}
        hx = (h0, torch.zeros_like(h0)) if mode == "LSTM" else h0
        out, state = torch.func.functional_call(ours, ps, (x, hx), {"lengths": lengths})
        return (out, *state_parts(state))

    assert torch.autograd.gradgradcheck(fn, (x, h0, w_ih))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bi", [False, True])
def test_double_backward_equals_torch_float32(mode, bi):
    """A gradient penalty (the input gradient's squared norm) backpropagated to the weights,
    with the fused kernel on: equal to torch.nn's per-sequence answer."""
    torch.manual_seed(4)
    ref, ours = make_pair(mode, torch.float32, num_layers=2, bidirectional=bi, batch_first=True)
    ref.batch_first = False
    lengths = [4, 1, 6, 3]
    x = torch.randn(4, 6, F_IN)
    r = torch.randn(4, 6, (2 if bi else 1) * H)

    def penalty_grads(layer, run):
        xg = x.clone().requires_grad_()
        out = run(layer, xg)
        (g,) = torch.autograd.grad((out * r).sum(), xg, create_graph=True)
        return torch.autograd.grad(g.pow(2).sum(), list(layer.parameters()))

    got = penalty_grads(ours, lambda m, xg: m(xg, lengths=lengths)[0])
    want = penalty_grads(ref, lambda m, xg: oracle(m, xg, lengths, None)[0])
    for (name, _), a, b in zip(ref.named_parameters(), got, want, strict=True):
        assert_close(a, b, torch.float32, f"penalty gradient of {name}")


# ------------------------------------------------------------------------- the nn API itself
@pytest.mark.parametrize("mode", MODES)
def test_state_dicts_load_both_ways(mode):
    ref, ours = make_pair(mode, torch.float32, num_layers=2, bidirectional=True)
    assert isinstance(ours, type(ref))
    assert list(ours.state_dict()) == list(ref.state_dict())
    back = type(ref)(F_IN, H, num_layers=2, bidirectional=True, **MODES[mode][2])
    back.load_state_dict(ours.state_dict())
    x = torch.randn(7, 3, F_IN)
    assert torch.allclose(back(x)[0], ours(x)[0], atol=1e-5)


def test_unbatched_input_and_state():
    ref, ours = make_pair("LSTM", torch.float32, num_layers=2)
    x = torch.randn(6, F_IN)
    hx = (torch.randn(2, H), torch.randn(2, H))
    (a, (ha, ca)), (b, (hb, cb)) = ref(x, hx), ours(x, hx)
    assert b.shape == a.shape and hb.shape == ha.shape
    for u, v in ((a, b), (ha, hb), (ca, cb)):
        assert torch.allclose(u, v, atol=1e-5)


def test_non_contiguous_input():
    ref, ours = make_pair("GRU", torch.float32, bidirectional=True, batch_first=True)
    x = torch.randn(9, 4, F_IN).transpose(0, 1)  # (B, T, F), not contiguous
    assert not x.is_contiguous()
    assert torch.allclose(ref(x)[0], ours(x)[0], atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_one_feeds_zeros_to_upper_layers(mode):
    """dropout=1.0 in training zeroes every layer's input but the first: the same as torch's
    layer in eval mode with the upper layers' input weights zeroed."""
    ref, ours = make_pair(mode, torch.float32, num_layers=3, dropout=1.0)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.startswith("weight_ih_l") and not name.startswith("weight_ih_l0"):
                p.zero_()
    ours.train()
    ref.eval()
    x = torch.randn(5, 3, F_IN)
    lengths = [5, 2, 4]
    out, _ = ours(x, lengths=lengths)
    want, _ = oracle(ref, x.transpose(0, 1), lengths, None)
    assert torch.allclose(out.transpose(0, 1), want, atol=1e-5)


def test_dropout_in_training_is_random_and_zero_at_padding():
    _, ours = make_pair("LSTM", torch.float32, num_layers=2, dropout=0.5, batch_first=True)
    ours.train()
    x = torch.randn(3, 6, F_IN)
    a, _ = ours(x, lengths=[6, 2, 4])
    b, _ = ours(x, lengths=[6, 2, 4])
    assert not torch.equal(a, b)
    assert a[1, 2:].abs().sum() == 0 and a[2, 4:].abs().sum() == 0


@pytest.mark.parametrize("lengths_type", ["tensor32", "tensor64", "list", "tuple"])
def test_lengths_forms(lengths_type):
    ref, ours = make_pair("RNN_TANH", torch.float32, batch_first=True)
    ref.batch_first = False
    raw = [4, 2, 3]
    lengths = {
        "tensor32": torch.tensor(raw, dtype=torch.int32),
        "tensor64": torch.tensor(raw),
        "list": raw,
        "tuple": tuple(raw),
    }[lengths_type]
    x = torch.randn(3, 4, F_IN)
    out, h = ours(x, lengths=lengths)
    want, (h_want,) = oracle(ref, x, raw, None)
    assert torch.allclose(out, want, atol=1e-5) and torch.allclose(h, h_want, atol=1e-5)


def test_float64_model_from_dtype_argument():
    ref, ours = make_pair("GRU", torch.float64, num_layers=2)
    assert all(p.dtype == torch.float64 for p in ours.parameters())
    x = torch.randn(5, 2, F_IN, dtype=torch.float64)
    assert torch.allclose(ref(x)[0], ours(x)[0], atol=1e-10)


def test_lengths_passed_positionally_are_refused():
    _, ours = make_pair("LSTM", torch.float32, batch_first=True)
    x = torch.randn(2, 3, F_IN)
    with pytest.raises(TypeError, match="lengths=lengths"):
        ours(x, torch.tensor([3, 2]))
    with pytest.raises(TypeError, match="lengths=lengths"):
        ours(x, [3, 2])


@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        ([4, 2], ValueError, r"at most|in \[0, T=3\]"),
        ([-1, 2], ValueError, r"in \[0, T=3\]"),
        ([3], ValueError, r"shape \(2,\)"),
        (torch.tensor([3.0, 2.0]), TypeError, "integer tensor"),
    ],
)
def test_bad_lengths_are_clear_errors(lengths, error, match):
    _, ours = make_pair("GRU", torch.float32, batch_first=True)
    with pytest.raises(error, match=match):
        ours(torch.randn(2, 3, F_IN), lengths=lengths)


def test_wrong_state_shape_and_dtype_are_torchs_errors():
    ref, ours = make_pair("LSTM", torch.float32)
    x = torch.randn(3, 2, F_IN)
    bad = (torch.zeros(1, 5, H), torch.zeros(1, 5, H))
    with pytest.raises(RuntimeError, match="Expected hidden"):
        ref(x, bad)
    with pytest.raises(RuntimeError, match="Expected hidden"):
        ours(x, bad)
    with pytest.raises(ValueError, match="dtype"):
        ours(x.double())


def test_packed_input_with_lengths_is_refused():
    _, ours = make_pair("RNN_TANH", torch.float32)
    packed = pack_padded_sequence(torch.randn(3, 2, F_IN), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="PackedSequence"):
        ours(packed, lengths=[3, 2])


def test_sorted_packed_sequence_keeps_its_layout():
    ref, ours = make_pair("LSTM", torch.float32, bidirectional=True)
    packed = pack_padded_sequence(torch.randn(4, 3, F_IN), torch.tensor([4, 3, 1]))
    (a, (ha, ca)), (b, (hb, cb)) = ref(packed), ours(packed)
    assert b.sorted_indices is None and torch.equal(a.batch_sizes, b.batch_sizes)
    for u, v in ((a.data, b.data), (ha, hb), (ca, cb)):
        assert torch.allclose(u, v, atol=1e-5)


def test_kernel_is_used_when_built():
    """Float32 CPU layers without an initial state or projection run the fused kernel of their
    cell when the extension is built (the others run torch's kernels, checked above)."""
    for mode in MODES:
        if not kernels.available():
            pytest.skip(f"kernels not built: {kernels.unavailable_reason()}")
        assert kernels.supports(mode), mode
