"""ONNX export keeps the lengths: ONNX Runtime equals eager on ragged batches, for every cell,
direction and pooling, text, bigram and numeric inputs and RNN → Transformer hybrids, and does
not read padding. The cases are the ``exported`` ones of :mod:`tests.variants`."""

import hashlib
import json
import logging
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.config import TextConfig
from padless.deploy.artifact import save_artifact
from padless.deploy.export import export_artifact
from padless.deploy.onnx import export_onnx
from padless.deploy.predict import load
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.encode.text import TextEncoder
from padless.errors import ArtifactError
from padless.models.classifier import SequenceClassifier
from tests.variants import CASES, FIXED, RAGGED, exported, padding_and_order, select

ort = pytest.importorskip("onnxruntime")

_SESSIONS: dict = {}


def session(case, tmp_path_factory):
    """(eval model, ONNX Runtime session on its export), built once per case."""
    if case.name not in _SESSIONS:
        model = case.model()
        path = tmp_path_factory.mktemp("onnx") / f"{case.name}.onnx"
        report = export_onnx(model, path, ids_per_step=case.ids_per_step)
        assert report["max_abs_diff"] <= 1e-4
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        _SESSIONS[case.name] = (model, sess)
    return _SESSIONS[case.name]


def run_onnx(sess, x, lengths):
    return sess.run(None, {"inputs": x, "lengths": lengths})[0]


def eager(model, x, lengths):
    with torch.no_grad():
        return model(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()


@pytest.mark.parametrize("case", select(exported))
@settings(max_examples=15, deadline=None)
@given(lengths=RAGGED, seed=st.integers(0, 10**6))
def test_onnx_runtime_equals_eager_on_ragged_batches(tmp_path_factory, case, lengths, seed):
    model, sess = session(case, tmp_path_factory)
    x, lens = case.inputs(lengths, seed)
    got = run_onnx(sess, x, lens)
    np.testing.assert_allclose(got, eager(model, x, lens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", select(exported))
def test_onnx_graph_ignores_padding_and_batch_order(tmp_path_factory, case):
    """Garbage in 7 extra padded steps and a reversed batch change nothing at real steps."""
    model, sess = session(case, tmp_path_factory)
    base, padded, flipped = padding_and_order(partial(run_onnx, sess), case, FIXED)
    if model.task == "tagging":  # per-step outputs: compare real steps only
        for i, n in enumerate(FIXED):
            np.testing.assert_allclose(padded[i, :n], base[i, :n], atol=1e-5)
        padded, base = padded[:, : base.shape[1]], base
    np.testing.assert_allclose(padded, base, atol=1e-5, rtol=0)
    np.testing.assert_allclose(flipped, base, atol=1e-5, rtol=0)


def test_graph_has_named_dynamic_inputs_and_length_aware_recurrent_nodes(tmp_path_factory):
    import onnx

    model, _ = session(CASES["lstm-bi2-max"], tmp_path_factory)
    path = tmp_path_factory.mktemp("g") / "m.onnx"
    export_onnx(model, path)
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == ["inputs", "lengths"]
    assert [o.name for o in g.output] == ["logits"]
    dims = [d.dim_param for d in g.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time"]
    lstm = [n for n in g.node if n.op_type == "LSTM"]
    assert len(lstm) == 2  # one node per layer, both directions inside
    assert all(len(n.input) >= 5 and n.input[4] for n in lstm)  # sequence_lens is wired
    assert onnx.load(str(path)).opset_import[0].version >= 17


# --------------------------------------------------- the export is part of the artifact's manifest
TEXTS = ["good film", "a bad film", "film"]


@pytest.fixture
def artifact(tmp_path):
    """A small text model saved as an artifact (untrained: only the files matter here)."""
    torch.manual_seed(0)
    enc = TextEncoder.fit(["good film", "a bad film"] * 2, TextConfig(min_freq=1))
    kwargs = dict(num_outputs=1, vocab_size=enc.vocab_size, embedding_dim=4, hidden_size=3)
    labels, pipe = LabelSpace("binary", ("neg", "pos")), InputPipeline("text", text=enc)
    return save_artifact(tmp_path / "model", SequenceClassifier(**kwargs), kwargs, labels, pipe)


def exports(d) -> dict:
    return json.loads((d / "manifest.json").read_text()).get("exports", {})


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_export_is_listed_in_the_manifest_and_verified_before_it_runs(
    artifact, tmp_path, caplog, fmt
):
    import onnx

    path = Path(export_artifact(artifact, fmt=fmt)["path"])
    assert path.parent == artifact
    assert exports(artifact) == {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    assert not [p.name for p in artifact.iterdir() if p.name.startswith(".")]  # no temp files
    given = None if fmt == "onnx" else path
    got = load(artifact, backend="onnx", onnx_path=given).logits(TEXTS)
    eager = load(artifact).logits(TEXTS)
    if fmt == "onnx":  # int8 is close, not exact (its accuracy: tests/test_cli.py)
        np.testing.assert_allclose(got, eager, atol=1e-4)
    assert got.shape == eager.shape

    # A copy outside the artifact is not covered by its manifest: allowed, stamp checked, said.
    outside = shutil.copy(path, tmp_path / "elsewhere.onnx")
    with caplog.at_level(logging.WARNING, logger="padless.deploy.backends"):
        load(artifact, backend="onnx", onnx_path=outside).logits(TEXTS)
    assert "not covered by" in caplog.text and "elsewhere.onnx" in caplog.text

    # Other weights under the right stamp: the digest in the manifest refuses them.
    proto = onnx.load(str(path))
    weights = proto.graph.initializer[0]
    weights.raw_data = bytes(len(weights.raw_data))  # zeros; the metadata (stamp) is untouched
    onnx.save(proto, str(path))
    with pytest.raises(ArtifactError, match=f"{path.name}.*sha256"):
        load(artifact, backend="onnx", onnx_path=given)

    # Dropped from the manifest: refused before it is read.
    manifest = json.loads((artifact / "manifest.json").read_text())
    manifest["exports"].pop(path.name)
    (artifact / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="listed in manifest.json"):
        load(artifact, backend="onnx", onnx_path=given)


def test_a_symlinked_export_is_refused(artifact, tmp_path):
    export_artifact(artifact)
    target = shutil.move(artifact / "model.onnx", tmp_path / "model.onnx")
    (artifact / "model.onnx").symlink_to(target)  # the same bytes: only the link is wrong
    with pytest.raises(ArtifactError, match="symlink"):
        load(artifact, backend="onnx")
