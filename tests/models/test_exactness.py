"""The shared exactness suite: every cell × direction × depth × pooling × execution path.

Oracle: the ``reference`` path (an explicit time × layer loop over the weight matrices), itself
checked against ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` over a ``PackedSequence``. Each test also
checks that a sequence's result does not depend on the batch it is in or on extra padding.
Models and ragged lengths come from :mod:`tests.variants`: encoder tests run its
``recurrent_cores()``, classifier tests its cases (every case is checked one sequence at a
time), all on its ``SMALL_RAGGED`` lengths and ``FIXED`` / ``TIED`` batches.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from padless.models.classifier import SequenceClassifier
from padless.models.encoder import RecurrentEncoder
from padless.models.hybrid import HybridEncoder
from padless.models.pooling import MaskedPooling
from padless.nn.lengths import lengths_mask, reverse_within_length
from tests.variants import (
    FIXED,
    SMALL_RAGGED,
    TIED,
    bigram,
    every,
    has_conv,
    recurrent_cores,
    select,
    skip_without_conv,
    stacked_grid,
)

ATOL = 1e-5
TORCH_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
CORES = recurrent_cores()  # every cell × direction × depth
IN, H = 5, 4  # encoder tests: input features and hidden size


def one_at_a_time(model, x, lengths):
    """The per-sequence reference: each row alone, cut to its length, no padding at all."""
    return torch.cat(
        [model(x[i : i + 1, : int(n)], lengths[i : i + 1]) for i, n in enumerate(lengths)]
    )


def encoder(cell, bi, layers, execution, seed=0, **kw):
    """``padded-torch`` is the padded path on torch's kernels, with the fused C++ LSTM
    (padless.nn.kernels, used by ``padded`` when it is built) switched off."""
    torch.manual_seed(seed)
    enc = RecurrentEncoder(cell, IN, H, layers, bi, execution=execution.split("-")[0], **kw)
    enc.use_kernel = execution != "padded-torch"
    return enc


def batch(lengths, extra=0, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()) + extra, IN, generator=g)
    x = x * lengths_mask(lengths, x.shape[1])[..., None]  # padding holds zeros...
    x[~lengths_mask(lengths, x.shape[1])] = 7.0  # ...or garbage: it must never matter
    return x, lengths


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def run(enc, x, lengths):
    """Outputs, states and gradients w.r.t. the input and every parameter."""
    enc.zero_grad()
    x = x.clone().requires_grad_(True)
    out, state = enc(x, lengths)
    states = as_tuple(state)
    g = torch.Generator().manual_seed(2)
    loss = (out * torch.randn(out.shape, generator=g)).sum()
    loss = loss + sum((s * torch.randn(s.shape, generator=g)).sum() for s in states)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in enc.named_parameters()}
    return out.detach(), [s.detach() for s in states], x.grad, grads


def assert_same(a, b):
    out_a, st_a, gx_a, gp_a = a
    out_b, st_b, gx_b, gp_b = b
    torch.testing.assert_close(out_a, out_b, atol=ATOL, rtol=0)
    for s, t in zip(st_a, st_b, strict=True):
        torch.testing.assert_close(s, t, atol=ATOL, rtol=0)
    torch.testing.assert_close(gx_a, gx_b, atol=ATOL, rtol=0)
    for name in gp_a:
        torch.testing.assert_close(gp_a[name], gp_b[name], atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("cell, bi, layers", CORES)
@pytest.mark.parametrize("execution", ["padded", "padded-torch", "packed"])
@settings(max_examples=10, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 3))
def test_paths_equal_reference(cell, bi, layers, execution, lengths, extra):
    x, lengths = batch(lengths, extra)
    got = run(encoder(cell, bi, layers, execution), x, lengths)
    want = run(encoder(cell, bi, layers, "reference"), x, lengths)
    assert_same(got, want)
    out = got[0]
    assert out.shape == (len(lengths), x.shape[1], H * (2 if bi else 1))
    assert not out[~lengths_mask(lengths, x.shape[1])].any()  # zero at padded steps


@pytest.mark.parametrize("cell, bi, layers", CORES)
@settings(max_examples=8, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 4), perm_seed=st.integers(0, 100))
def test_each_sequence_is_independent_of_batch_and_padding(
    cell, bi, layers, lengths, extra, perm_seed
):
    enc = encoder(cell, bi, layers, "padded" if perm_seed % 2 else "padded-torch").eval()
    x, lengths = batch(lengths, extra)
    perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(perm_seed))
    with torch.no_grad():
        out, state = enc(x, lengths)
        out_p, state_p = enc(x[perm], lengths[perm])
        for i in range(len(lengths)):
            n = int(lengths[i])
            alone, s_alone = enc(x[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(out[i, :n], alone[0], atol=ATOL, rtol=0)
            for s, a in zip(as_tuple(state), as_tuple(s_alone), strict=True):
                torch.testing.assert_close(s[:, i], a[:, 0], atol=ATOL, rtol=0)
    torch.testing.assert_close(out_p, out[perm], atol=ATOL, rtol=0)
    for s, p in zip(as_tuple(state), as_tuple(state_p), strict=True):
        torch.testing.assert_close(p, s[:, perm], atol=ATOL, rtol=0)


@pytest.mark.parametrize("cell, bi, layers", CORES)
def test_reference_equals_torch_packed_and_weights_load_both_ways(cell, bi, layers):
    torch.manual_seed(3)
    ref = TORCH_RNN[cell](IN, H, layers, bidirectional=bi, batch_first=True)
    enc = RecurrentEncoder(cell, IN, H, layers, bi, execution="reference")
    enc.load_state_dict(ref.state_dict())
    x, lengths = batch(TIED, extra=2)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_ref, state_ref = ref(packed)
    out_ref, _ = nn.utils.rnn.pad_packed_sequence(
        out_ref, batch_first=True, total_length=x.shape[1]
    )
    out, state = enc(x, lengths)
    torch.testing.assert_close(out, out_ref, atol=ATOL, rtol=0)
    for s, r in zip(as_tuple(state), as_tuple(state_ref), strict=True):
        torch.testing.assert_close(s, r, atol=ATOL, rtol=0)
    back = TORCH_RNN[cell](IN, H, layers, bidirectional=bi, batch_first=True)
    back.load_state_dict(enc.state_dict())
    assert {n: p.shape for n, p in back.named_parameters()} == {
        n: p.shape for n, p in enc.named_parameters()
    }


def test_relu_rnn_and_inter_layer_dropout():
    x, lengths = batch(FIXED)
    for execution in ("padded", "packed"):
        got = run(encoder("rnn", True, 2, execution, nonlinearity="relu"), x, lengths)
        assert_same(got, run(encoder("rnn", True, 2, "reference", nonlinearity="relu"), x, lengths))
    enc = encoder("lstm", True, 2, "padded", dropout=0.5)
    with torch.no_grad():
        enc.eval()
        a, _ = enc(x, lengths)
        b, _ = encoder("lstm", True, 2, "padded", dropout=0.0).eval()(x, lengths)
        torch.testing.assert_close(a, b)  # dropout is off in eval
        enc.train()
        c, _ = enc(x, lengths)
    assert not torch.allclose(a, c)  # and applied between layers in training


# ------------------------------------------------------------------- pooling and classifier


def as_torch(x, lengths):
    return torch.from_numpy(x), torch.from_numpy(lengths)


@pytest.mark.parametrize("case", select(every))
@settings(max_examples=8, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 3), seed=st.integers(0, 1000))
def test_every_case_is_exact_per_sequence(case, lengths, extra, seed):
    """Every model variant on a ragged batch with garbage in the padding equals each of its
    sequences run alone, cut to its length; per-step outputs are zero at padded steps."""
    model = case.model()
    x, lengths = as_torch(*case.inputs(lengths, seed, pad=extra, garbage=True))
    with torch.no_grad():
        out = model(x, lengths)
        if case.task == "tagging":
            assert not out[~lengths_mask(lengths, x.shape[1])].any()
            for i, n in enumerate(lengths.tolist()):
                alone = model(x[i : i + 1, :n], lengths[i : i + 1])
                torch.testing.assert_close(out[i, :n], alone[0], atol=ATOL, rtol=0)
        else:
            torch.testing.assert_close(out, one_at_a_time(model, x, lengths), atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", select(stacked_grid))
@settings(max_examples=8, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 3))
def test_classifier_paths_and_pooling(case, lengths, extra):
    ids, lengths = as_torch(*case.inputs(lengths, seed=0, pad=extra))  # padding ids are 0
    results = {}
    for execution in ("reference", "padded", "padded-torch", "packed"):
        # the encoder tests' sizes: the reference loop with gradients is slow at larger ones
        model = case.model(execution=execution.split("-")[0], embedding_dim=IN, hidden_size=H)
        model.train()
        model.encoder.use_kernel = execution != "padded-torch"
        logits = model(ids, lengths)
        logits.pow(2).sum().backward()
        results[execution] = (logits.detach(), {n: p.grad for n, p in model.named_parameters()})
    for execution in ("padded", "padded-torch", "packed"):
        torch.testing.assert_close(
            results[execution][0], results["reference"][0], atol=ATOL, rtol=0
        )
        for name, grad in results["reference"][1].items():
            torch.testing.assert_close(
                results[execution][1][name], grad, atol=ATOL, rtol=0, msg=f"{execution} {name}"
            )
    model.eval()
    with torch.no_grad():
        alone = one_at_a_time(model, ids, lengths)
        torch.testing.assert_close(model(ids, lengths), alone, atol=ATOL, rtol=0)


def test_last_pooling_reads_bidirectional_final_states():
    enc = encoder("gru", True, 1, "padded")
    x, lengths = batch(FIXED)
    out, h_n = enc(x, lengths)
    pooled = MaskedPooling("last", 2 * H, 2)(out, lengths)
    torch.testing.assert_close(pooled, torch.cat([h_n[0], h_n[1]], dim=-1))


@pytest.mark.parametrize(
    "task, shape",
    [("binary", (3, 1)), ("multilabel", (3, 4)), ("regression", (3, 2)), ("tagging", (3, 9, 4))],
)
def test_heads(task, shape):
    torch.manual_seed(0)
    outputs = shape[-1]
    model = SequenceClassifier(
        num_outputs=outputs, num_features=3, embedding_dim=6, hidden_size=H, task=task
    ).eval()
    x = torch.randn(3, 9, 3)
    lengths = torch.tensor([9, 1, 4])
    with torch.no_grad():
        y = model(x, lengths)
        assert y.shape == shape
        if task == "tagging":
            assert not y[~lengths_mask(lengths, 9)].any()
            alone = model(x[2:3, :4], lengths[2:3])
            torch.testing.assert_close(y[2, :4], alone[0], atol=ATOL, rtol=0)


# ------------------------------------------------------------------- hybrid and errors


def test_hybrid_checks_d_model_and_ignores_padding():
    rec = encoder("lstm", True, 1, "padded")
    with pytest.raises(ValueError, match=r"d_model: expected 8 .* Fix: set d_model=8"):
        HybridEncoder(rec, d_model=16)
    torch.manual_seed(0)
    hybrid = HybridEncoder(rec, d_model=2 * H, nhead=2, dropout=0.0).eval()
    x, lengths = batch(FIXED, extra=3)
    with torch.no_grad():
        out, _ = hybrid(x, lengths)
        assert not out[~lengths_mask(lengths, x.shape[1])].any()
        for i, n in enumerate(lengths.tolist()):
            alone, _ = hybrid(x[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(out[i, :n], alone[0], atol=ATOL, rtol=0)
    model = SequenceClassifier(
        num_outputs=2,
        vocab_size=20,
        embedding_dim=IN,
        hidden_size=H,
        transformer_layers=1,
        transformer_heads=2,
        pooling="mean",
    )
    assert model(torch.ones(2, 5, dtype=torch.long), torch.tensor([5, 3])).shape == (2, 2)


def test_bad_lengths_are_clear_errors():
    enc = encoder("lstm", False, 1, "padded")
    x = torch.randn(2, 4, IN)
    with pytest.raises(ValueError, match=r"got 0 at rows \[1\].*remove empty"):
        encoder("lstm", False, 1, "packed")(x, torch.tensor([3, 0]))  # PackedSequence cannot
    with pytest.raises(ValueError, match="at most T=4"):
        enc(x, torch.tensor([5, 1]))
    with pytest.raises(ValueError, match=r"expected shape \(2,\)"):
        enc(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="integer"):
        enc(x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected \(B, T, 5\)"):
        enc(torch.randn(2, 4, 3), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="execution"):
        RecurrentEncoder("lstm", IN, H, execution="fast")
    with pytest.raises(ValueError, match="nonlinearity"):
        RecurrentEncoder("lstm", IN, H, nonlinearity="relu")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_empty_rows_give_zero_outputs_and_zero_states(cell):
    """AllenNLP's convention for empty sequences: zero outputs, zero final state; the other
    rows are what they are without the empty one."""
    enc = encoder(cell, True, 2, "padded")
    x = torch.randn(3, 4, IN)
    out, state = enc(x, torch.tensor([3, 0, 4]))
    parts = state if isinstance(state, tuple) else (state,)
    assert out[1].abs().sum() == 0 and all(p[:, 1].abs().sum() == 0 for p in parts)
    alone, _ = enc(x[[0, 2]], torch.tensor([3, 4]))
    assert torch.allclose(out[[0, 2]], alone, atol=1e-6)
    with pytest.raises(ValueError, match="remove empty"):
        SequenceClassifier(num_outputs=2, vocab_size=20, embedding_dim=IN, hidden_size=H)(
            torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0])
        )


def test_reverse_within_length_is_an_involution():
    x = torch.arange(12.0).reshape(2, 6)
    lengths = torch.tensor([4, 2])
    r = reverse_within_length(x, lengths)
    assert r.tolist() == [[3, 2, 1, 0, 4, 5], [7, 6, 8, 9, 10, 11]]
    assert torch.equal(reverse_within_length(r, lengths), x)


def test_embedding_dropout_acts_in_training_only():
    torch.manual_seed(0)
    kw = dict(num_outputs=2, vocab_size=30, embedding_dim=8, hidden_size=6, pooling="mean")
    plain = SequenceClassifier(**kw)
    dropped = SequenceClassifier(**kw, embedding_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())  # a dropout adds no parameters
    x = torch.tensor([[3, 4, 5, 0], [7, 8, 0, 0]])
    lengths = torch.tensor([3, 2])
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(x, lengths), plain(x, lengths))
    dropped.train()
    assert not torch.allclose(dropped(x, lengths), plain(x, lengths))


@pytest.mark.parametrize("case", select(bigram))
@settings(max_examples=10, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 3))
def test_k_ids_per_step_sum_their_embeddings(case, lengths, extra):
    """(B, T, 2) word + bigram ids: exact per sequence, padding-invariant, and a zero (unknown)
    bigram id adds nothing, so channel 1 = 0 equals plain (B, T) word ids."""
    ids, lengths = as_torch(*case.inputs(lengths, seed=1, pad=extra))
    model = case.model()
    with torch.no_grad():
        batch = model(ids, lengths)
        alone = one_at_a_time(model, ids, lengths)
        torch.testing.assert_close(batch, alone, atol=ATOL, rtol=0)
        words = ids.clone()
        words[..., 1:] = 0
        torch.testing.assert_close(model(words, lengths), model(ids[..., 0], lengths))
        assert not torch.allclose(model(words, lengths), batch)


@pytest.mark.parametrize("case", select(skip_without_conv))
@settings(max_examples=8, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 3))
def test_embedding_skip_is_exact_and_padding_free(case, lengths, extra):
    x, lengths = as_torch(*case.inputs(lengths, seed=2, pad=extra, garbage=case.numeric))
    model = case.model()
    assert model.head.in_features == model.encoder.output_size + case.get("embedding_dim")
    with torch.no_grad():
        alone = one_at_a_time(model, x, lengths)
        torch.testing.assert_close(model(x, lengths), alone, atol=ATOL, rtol=0)
        # the skip path is the masked mean of the embedded real steps
        emb = model.embed(x[:1, : int(lengths[0])]).mean(1)
        pooled = model.pool(
            model.encoder(model.embed(x[:1, : int(lengths[0])]), lengths[:1])[0], lengths[:1]
        )
        torch.testing.assert_close(alone[:1], model.head(torch.cat([pooled, emb], -1)))
    with pytest.raises(ValueError, match="tagging"):
        SequenceClassifier(num_outputs=2, vocab_size=30, task="tagging", embedding_skip=True)


@pytest.mark.parametrize("case", select(has_conv))
@settings(max_examples=8, deadline=None)
@given(lengths=SMALL_RAGGED, extra=st.integers(0, 4))
def test_conv_front_end_is_exact_per_sequence(case, lengths, extra):
    """Numeric inputs whose padded steps hold garbage: the conv must not see them."""
    x, lengths = as_torch(*case.inputs(lengths, seed=3, pad=extra, garbage=True))
    x = x * 5
    model = case.model()
    with torch.no_grad():
        alone = one_at_a_time(model, x, lengths)
        torch.testing.assert_close(model(x, lengths), alone, atol=ATOL, rtol=0)


def test_conv_front_end_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        SequenceClassifier(num_outputs=2, num_features=3, conv_channels=4, conv_kernel=4)
