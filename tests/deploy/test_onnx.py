"""ONNX export keeps the lengths: ONNX Runtime equals eager on ragged batches, for every cell,
direction and pooling, text, bigram and numeric inputs and RNN → Transformer hybrids, and does
not read padding. The cases are the ``exported`` ones of :mod:`tests.variants`."""

from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.deploy.onnx import export_onnx
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
