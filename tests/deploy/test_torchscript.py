"""TorchScript export keeps the lengths: the saved and reloaded module equals eager on ragged
batches of any batch and time size, for every cell, direction and pooling, text, bigram and
numeric inputs and RNN → Transformer hybrids, and does not read padding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from padless.deploy import torchscript
from padless.deploy.torchscript import ScriptedClassifier, export_torchscript
from padless.errors import ExportError
from tests import variants as ragged_cases
from tests.variants import build, ragged

# torch >= 2.10 marks torch.jit.* deprecated (it still works); keep the output quiet.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASES = dict(ragged_cases.CASES)
CASES["hybrid-bi-mean"] = dict(transformer_layers=2, transformer_heads=3, pooling="mean")
CASES["hybrid-uni-last"] = dict(
    bidirectional=False, transformer_layers=1, transformer_heads=2, pooling="last"
)
CASES["hybrid-gru-tagging"] = dict(
    cell="gru", transformer_layers=1, transformer_heads=2, task="tagging"
)
CASES["hybrid-gelu-attention"] = dict(
    transformer_layers=1, transformer_heads=2, pooling="attention", activation="gelu"
)


def set_activation(model, activation, code):
    """Give every transformer layer ``activation``; ``code`` is the layer's fast-path tag
    (``activation_relu_or_gelu``: 1 relu, 2 gelu, 0 other), kept consistent for eager."""
    for layer in model.encoder.transformer.layers:
        layer.activation, layer.activation_relu_or_gelu = activation, code


def build_case(name):
    """``ragged_cases.build`` plus ``activation="gelu"`` for hybrids."""
    spec = dict(CASES[name])
    gelu = spec.pop("activation", "relu") == "gelu"
    model, numeric, k = build(spec)
    if gelu:
        set_activation(model, torch.nn.functional.gelu, 2)
    return model, numeric, k


_MODULES: dict = {}


def scripted(name, tmp_path_factory):
    """(model, numeric, k, the TorchScript module reloaded from disk), built once per case."""
    if name not in _MODULES:
        model, numeric, k = build_case(name)
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


@pytest.mark.parametrize(
    "name",
    ["lstm-bi-mean", "gru-bi-last", "numeric-conv-skip", "tagging"]
    + ["hybrid-bi-mean", "hybrid-gru-tagging"],
)
def test_torchscript_ignores_padding_and_batch_order(tmp_path_factory, name):
    """Garbage in 7 extra padded steps and a reversed batch change nothing at real steps."""
    model, numeric, k, module = scripted(name, tmp_path_factory)
    lengths = [5, 1, 12, 3]

    def call(x, lens):
        return run(module, torch.from_numpy(x), torch.from_numpy(lens))

    base, padded, flipped = ragged_cases.padding_and_order(call, numeric, k, lengths)
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


def test_hybrid_parity_needs_the_key_padding_mask(tmp_path_factory, monkeypatch):
    """Mutation check: with padded keys left in the softmax, a hybrid stops matching eager on a
    batch with padding (but not on one without), so the key mask is what keeps it exact. The
    mutant runs the rewrite eagerly: TorchScript would reuse the compiled unmutated module."""
    model, numeric, k, _ = scripted("hybrid-bi-mean", tmp_path_factory)
    ragged_x, ragged_lens = batch([5, 1, 12, 3], numeric, k, seed=2)
    full_x, full_lens = batch([12] * 4, numeric, k, seed=2)
    exact = ScriptedClassifier(model)
    np.testing.assert_allclose(
        run(exact, ragged_x, ragged_lens), run(model, ragged_x, ragged_lens), atol=1e-4, rtol=0
    )
    no_padded_keys = lambda real: torch.zeros_like(real[:, None, None, :, 0])  # noqa: E731
    monkeypatch.setattr(torchscript, "_padded_keys", no_padded_keys)  # (B, 1, 1, T), all False
    mutant = ScriptedClassifier(model)
    diff = np.abs(run(mutant, ragged_x, ragged_lens) - run(model, ragged_x, ragged_lens))
    assert diff.max() > 1e-3
    assert diff[2].max() < 1e-4  # the longest row has no padded keys, so it is unaffected
    np.testing.assert_allclose(
        run(mutant, full_x, full_lens), run(model, full_x, full_lens), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("activation", [torch.tanh, nn.GELU(approximate="tanh")])
def test_hybrid_with_another_activation_is_refused_with_the_reason(tmp_path, activation):
    model, _, _ = build_case("hybrid-uni-last")
    set_activation(model, activation, 0)
    with pytest.raises(ExportError, match="relu or gelu"):
        ScriptedClassifier(model)
    with pytest.raises(ExportError, match="activation"):
        export_torchscript(model, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
