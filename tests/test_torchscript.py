"""TorchScript export keeps the lengths: the saved and reloaded module equals eager on ragged
batches of any batch and time size, for every cell, direction and pooling, text, bigram and
numeric inputs, and does not read padding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.errors import ExportError
from padless.models import SequenceClassifier
from padless.torchscript import ScriptedClassifier, export_torchscript

# torch >= 2.10 marks torch.jit.* deprecated (it still works); keep the output quiet.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

V, F = 40, 3
CASES = {
    f"{cell}-{'bi' if bi else 'uni'}-{pool}": dict(
        cell=cell, bidirectional=bi, pooling=pool, num_layers=2 if bi else 1
    )
    for cell in ("lstm", "gru", "rnn")
    for bi in (False, True)
    for pool in ("last", "mean", "max", "attention")
}
CASES["rnn-relu-bi-mean"] = dict(cell="rnn", nonlinearity="relu", pooling="mean")
CASES["numeric-conv-skip"] = dict(
    numeric=True, conv_channels=5, conv_kernel=3, conv_layers=2, embedding_skip=True, pooling="max"
)
CASES["numeric-gru-last"] = dict(numeric=True, cell="gru", pooling="last")
CASES["bigram-ids"] = dict(ids_per_step=2, pooling="max", task="binary")
CASES["tagging"] = dict(task="tagging")


def build(spec):
    spec = dict(spec)
    numeric = spec.pop("numeric", False)
    k = spec.pop("ids_per_step", 1)
    task = spec.pop("task", "multiclass")
    torch.manual_seed(0)
    kw = dict(embedding_dim=8, hidden_size=6, bidirectional=True, task=task)
    kw["num_outputs"] = 1 if task == "binary" else 3
    kw.update({"num_features": F} if numeric else {"vocab_size": V})
    model = SequenceClassifier(**{**kw, **spec}).eval()
    return model, numeric, k


_MODULES: dict = {}


def scripted(name, tmp_path_factory):
    """(model, numeric, k, the TorchScript module reloaded from disk), built once per case."""
    if name not in _MODULES:
        model, numeric, k = build(CASES[name])
        path = tmp_path_factory.mktemp("ts") / f"{name}.pt"
        report = export_torchscript(model, path, ids_per_step=k)
        assert report["max_abs_diff"] <= 1e-4
        assert report["bytes"] == path.stat().st_size > 0
        _MODULES[name] = (model, numeric, k, torch.jit.load(str(path)))
    return _MODULES[name]


def _draw(rng, shape, numeric, k):
    if numeric:
        return rng.normal(size=(*shape, F)).astype(np.float32)
    return rng.integers(1, V, size=shape if k == 1 else (*shape, k)).astype(np.int64)


def batch(lengths, numeric, k, seed, pad=0, garbage=False):
    """Right-padded inputs for ``lengths`` plus ``pad`` extra steps; the padded steps are zero
    or, with ``garbage``, random values. The real steps depend on ``seed`` and lengths only."""
    b, t = len(lengths), max(lengths)
    x = _draw(np.random.default_rng(seed), (b, t), numeric, k)
    x = np.concatenate([x, np.zeros_like(_draw(np.random.default_rng(0), (b, pad), numeric, k))], 1)
    real = np.arange(t + pad)[None, :] < np.asarray(lengths)[:, None]
    real = real.reshape(b, t + pad, *[1] * (x.ndim - 2))
    noise = _draw(np.random.default_rng(seed + 1), (b, t + pad), numeric, k)
    x = np.where(real, x, noise if garbage else 0).astype(x.dtype)
    return torch.from_numpy(x), torch.tensor(lengths, dtype=torch.int64)


def run(module, x, lengths):
    with torch.no_grad():
        return module(x, lengths).numpy()


ragged = st.one_of(
    st.lists(st.integers(1, 30), min_size=1, max_size=64),
    st.integers(1, 30).flatmap(lambda n: st.lists(st.just(n), min_size=1, max_size=8)),
    st.lists(st.integers(1, 3), min_size=1, max_size=8).map(lambda xs: xs + [60]),
)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=15, deadline=None)
@given(lengths=ragged, seed=st.integers(0, 10**6))
def test_torchscript_equals_eager_on_ragged_batches(tmp_path_factory, name, lengths, seed):
    model, numeric, k, module = scripted(name, tmp_path_factory)
    x, lens = batch(lengths, numeric, k, seed)
    np.testing.assert_allclose(run(module, x, lens), run(model, x, lens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["lstm-bi-mean", "gru-bi-last", "numeric-conv-skip", "tagging"])
def test_torchscript_ignores_padding_and_batch_order(tmp_path_factory, name):
    """Garbage in 7 extra padded steps and a reversed batch change nothing at real steps."""
    model, numeric, k, module = scripted(name, tmp_path_factory)
    lengths = [5, 1, 12, 3]
    x, lens = batch(lengths, numeric, k, seed=1)
    base = run(module, x, lens)
    noisy, _ = batch(lengths, numeric, k, seed=1, pad=7, garbage=True)
    padded = run(module, noisy, lens)
    order = torch.arange(len(lengths)).flip(0)
    flipped = run(module, x[order], lens[order])[np.argsort(order.numpy())]
    if model.task == "tagging":  # per-step outputs, zero at every padded step
        assert padded.shape[1] == base.shape[1] + 7
        assert not padded[:, base.shape[1] :].any()
        for i, n in enumerate(lengths):
            assert not base[i, n:].any()
        padded = padded[:, : base.shape[1]]
    np.testing.assert_allclose(padded, base, atol=1e-5, rtol=0)
    np.testing.assert_allclose(flipped, base, atol=1e-5, rtol=0)


def test_scripted_module_checks_lengths(tmp_path_factory):
    _, numeric, k, module = scripted("gru-uni-mean", tmp_path_factory)
    x, lens = batch([4, 2], numeric, k, seed=0)
    for bad in (torch.tensor([4, 0]), torch.tensor([5, 2]), torch.tensor([4]), lens.float()):
        with pytest.raises(torch.jit.Error, match="lengths"):
            module(x, bad)


def test_hybrid_export_is_refused_with_the_reason(tmp_path):
    model = SequenceClassifier(
        num_outputs=2,
        vocab_size=V,
        embedding_dim=8,
        hidden_size=4,
        transformer_layers=1,
        transformer_heads=2,
    )
    with pytest.raises(ExportError, match="hybrid"):
        ScriptedClassifier(model)
    with pytest.raises(ExportError, match="hybrid"):
        export_torchscript(model, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
