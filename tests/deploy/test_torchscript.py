"""TorchScript export keeps the lengths: the saved and reloaded module equals eager on ragged
batches of any batch and time size, for every cell, direction and pooling, text, bigram and
numeric inputs and RNN → Transformer hybrids, and does not read padding. The cases are the
``exported`` ones of :mod:`tests.variants`."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from padless.deploy import torchscript
from padless.deploy.artifact import save_artifact
from padless.deploy.export import export_artifact
from padless.deploy.predict import load
from padless.deploy.torchscript import ScriptedClassifier, export_torchscript
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.errors import ArtifactError, ExportError
from padless.models.classifier import SequenceClassifier
from tests.variants import CASES, FIXED, RAGGED, exported, padding_and_order, select, set_activation

# torch >= 2.10 marks torch.jit.* deprecated (it still works); keep the output quiet.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_MODULES: dict = {}


def scripted(case, tmp_path_factory):
    """(eval model, the TorchScript module reloaded from disk), built once per case."""
    if case.name not in _MODULES:
        model = case.model()
        path = tmp_path_factory.mktemp("ts") / f"{case.name}.pt"
        report = export_torchscript(model, path, ids_per_step=case.ids_per_step)
        assert report["max_abs_diff"] <= 1e-4
        assert report["bytes"] == path.stat().st_size > 0
        _MODULES[case.name] = (model, torch.jit.load(str(path)))
    return _MODULES[case.name]


def batch(case, lengths, seed):
    x, lengths = case.inputs(lengths, seed)
    return torch.from_numpy(x), torch.from_numpy(lengths)


def run(module, x, lengths):
    with torch.no_grad():
        return module(x, lengths).numpy()


@pytest.mark.parametrize("case", select(exported))
@settings(max_examples=15, deadline=None)
@given(lengths=RAGGED, seed=st.integers(0, 10**6))
def test_torchscript_equals_eager_on_ragged_batches(tmp_path_factory, case, lengths, seed):
    model, module = scripted(case, tmp_path_factory)
    x, lens = batch(case, lengths, seed)
    np.testing.assert_allclose(run(module, x, lens), run(model, x, lens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", select(exported))
def test_torchscript_ignores_padding_and_batch_order(tmp_path_factory, case):
    """Garbage in 7 extra padded steps and a reversed batch change nothing at real steps."""
    model, module = scripted(case, tmp_path_factory)

    def call(x, lens):
        return run(module, torch.from_numpy(x), torch.from_numpy(lens))

    base, padded, flipped = padding_and_order(call, case, FIXED)
    if model.task == "tagging":  # per-step outputs, zero at every padded step
        assert padded.shape[1] == base.shape[1] + 7
        assert not padded[:, base.shape[1] :].any()
        for i, n in enumerate(FIXED):
            assert not base[i, n:].any()
        padded = padded[:, : base.shape[1]]
    np.testing.assert_allclose(padded, base, atol=1e-5, rtol=0)
    np.testing.assert_allclose(flipped, base, atol=1e-5, rtol=0)


def test_scripted_module_checks_lengths(tmp_path_factory):
    case = CASES["gru-uni1-mean"]
    _, module = scripted(case, tmp_path_factory)
    x, lens = batch(case, [4, 2], seed=0)
    for bad in (torch.tensor([4, 0]), torch.tensor([5, 2]), torch.tensor([4]), lens.float()):
        with pytest.raises(torch.jit.Error, match="lengths"):
            module(x, bad)


def test_hybrid_parity_needs_the_key_padding_mask(tmp_path_factory, monkeypatch):
    """Mutation check: with padded keys left in the softmax, a hybrid stops matching eager on a
    batch with padding (but not on one without), so the key mask is what keeps it exact. The
    mutant runs the rewrite eagerly: TorchScript would reuse the compiled unmutated module."""
    case = CASES["hybrid-bi-mean"]
    model, _ = scripted(case, tmp_path_factory)
    ragged_x, ragged_lens = batch(case, FIXED, seed=2)
    full_x, full_lens = batch(case, [max(FIXED)] * len(FIXED), seed=2)  # no padding at all
    exact = ScriptedClassifier(model)
    np.testing.assert_allclose(
        run(exact, ragged_x, ragged_lens), run(model, ragged_x, ragged_lens), atol=1e-4, rtol=0
    )
    no_padded_keys = lambda real: torch.zeros_like(real[:, None, None, :, 0])  # noqa: E731
    monkeypatch.setattr(torchscript, "_padded_keys", no_padded_keys)  # (B, 1, 1, T), all False
    mutant = ScriptedClassifier(model)
    diff = np.abs(run(mutant, ragged_x, ragged_lens) - run(model, ragged_x, ragged_lens))
    assert diff.max() > 1e-3
    longest = FIXED.index(max(FIXED))  # the longest row has no padded keys: unaffected
    assert diff[longest].max() < 1e-4
    np.testing.assert_allclose(
        run(mutant, full_x, full_lens), run(model, full_x, full_lens), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("activation", [torch.tanh, nn.GELU(approximate="tanh")])
def test_hybrid_with_another_activation_is_refused_with_the_reason(tmp_path, activation):
    model = CASES["hybrid-uni-last"].model()
    set_activation(model, activation, 0)
    with pytest.raises(ExportError, match="relu or gelu"):
        ScriptedClassifier(model)
    with pytest.raises(ExportError, match="activation"):
        export_torchscript(model, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


# --------------------------------------------------- the export is part of the artifact's manifest
def test_export_is_listed_in_the_manifest_and_verified_before_it_runs(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(num_outputs=1, vocab_size=9, embedding_dim=4, hidden_size=3)
    labels, pipe = LabelSpace("binary", ("a", "b")), InputPipeline("ids", vocab_size=9)
    d = save_artifact(tmp_path / "model", SequenceClassifier(**kwargs), kwargs, labels, pipe)
    path = Path(export_artifact(d, fmt="torchscript")["path"])
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["exports"] == {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    inputs = [[1, 2, 3], [4], [8, 7]]
    np.testing.assert_allclose(
        load(d, backend="torchscript").logits(inputs), load(d).logits(inputs), atol=1e-5
    )
    # Other weights under the right stamp (the archive re-saved with its extra file): refused.
    extra = {"padless.json": ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    with torch.no_grad():
        next(module.parameters()).zero_()
    torch.jit.save(module, str(path), _extra_files=extra)
    with pytest.raises(ArtifactError, match=f"{path.name}.*sha256"):
        load(d, backend="torchscript")
    manifest["exports"] = {}
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="listed in manifest.json"):
        load(d, backend="torchscript")
