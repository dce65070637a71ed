"""TorchScript export keeps the lengths: the saved and reloaded module equals eager on ragged
batches of any batch and time size, for every cell, direction and pooling, text, bigram and
numeric inputs, and does not read padding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ragged_cases
from padless.errors import ExportError
from padless.models import SequenceClassifier
from padless.torchscript import ScriptedClassifier, export_torchscript
from ragged_cases import CASES, V, build, ragged

# torch >= 2.10 marks torch.jit.* deprecated (it still works); keep the output quiet.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

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


def batch(*args, **kwargs):
    x, lengths = ragged_cases.batch(*args, **kwargs)
    return torch.from_numpy(x), torch.from_numpy(lengths)


def run(module, x, lengths):
    with torch.no_grad():
        return module(x, lengths).numpy()


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
