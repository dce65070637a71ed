import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.errors import DataError
from padless.evaluation.ngrams import PRIME, NgramModel, fit_ngram_model
from padless.models.ngram import NgramLinear

V, M, K = 12, 8, 3  # a small vocabulary and few buckets: repeats and hash collisions abound


def random_model(seed=0, k=K):
    """A model with random weights on every column (some idf 0, as min_df leaves them)."""
    rng = np.random.default_rng(seed)
    idf = rng.uniform(1.0, 3.0, size=V + M) * (rng.random(V + M) > 0.2)
    idf[0] = 0.0
    return NgramModel(
        name="tfidf-logreg",
        task="multiclass" if k > 1 else "binary",
        vocab_size=V,
        buckets=M,
        prime=PRIME,
        idf=idf,
        coef=rng.normal(size=(k, V + M)),
        intercept=rng.normal(size=k),
        squeeze=k == 1,
    )


MODEL = random_model()
MODULE = MODEL.to_module().eval()


def batch(docs, pad=0):
    """Right-padded (B, T) ids and (B,) lengths of ``docs``, with ``pad`` extra steps."""
    lengths = torch.tensor([len(d) for d in docs], dtype=torch.int64)
    t = (max((len(d) for d in docs), default=0)) + pad
    ids = torch.zeros(len(docs), t, dtype=torch.int64)
    for i, d in enumerate(docs):
        ids[i, : len(d)] = torch.as_tensor(np.asarray(d, dtype=np.int64))
    return ids, lengths


def scores(module, docs, pad=0):
    with torch.no_grad():
        return module(*batch(docs, pad)).numpy()


def reference(model, docs):
    if not docs:
        return np.zeros((0, model.coef.shape[0]))
    return model.scores([np.asarray(d, dtype=np.int64) for d in docs])


ids_st = st.one_of(st.integers(1, V - 1), st.sampled_from([1, 2]))  # id 1 (UNK) repeats
doc_st = st.lists(ids_st, max_size=10)
docs_st = st.one_of(
    st.lists(doc_st, max_size=7),
    st.lists(st.lists(ids_st, min_size=5, max_size=5), min_size=1, max_size=4),  # all equal
    st.tuples(st.lists(doc_st, max_size=4), st.lists(ids_st, min_size=60, max_size=80)).map(
        lambda p: [*p[0], p[1]]
    ),  # one long outlier
    st.lists(st.sampled_from([[], [3], [3, 3, 3, 3], [5, 5]]), min_size=1, max_size=5),
)


@settings(max_examples=60, deadline=None)
@given(docs=docs_st, pad=st.integers(0, 3))
def test_module_equals_numpy_scores(docs, pad):
    got = scores(MODULE, docs, pad)
    assert got.shape == (len(docs), K) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(MODEL, docs), rtol=1e-5, atol=1e-5)
    # invariant to extra right padding and to what else is in the batch
    np.testing.assert_allclose(scores(MODULE, docs, pad + 4), got, rtol=1e-6, atol=1e-6)
    for i, d in enumerate(docs):
        np.testing.assert_allclose(scores(MODULE, [d])[0], got[i], rtol=1e-5, atol=1e-6)


def test_empty_rows_and_empty_batches():
    out = scores(MODULE, [[], [], [4]])
    np.testing.assert_allclose(out[:2], np.tile(MODEL.intercept, (2, 1)), rtol=1e-6)
    assert scores(MODULE, []).shape == (0, K)
    assert scores(MODULE, [[], []]).shape == (2, K)  # T = 0
    # id 0 inside the length: the unigram has idf 0, the bigram (0, 0) is an ordinary feature
    ids, lengths = torch.zeros(1, 3, dtype=torch.int64), torch.tensor([3])
    expected = reference(MODEL, [[0, 0, 0]])
    np.testing.assert_allclose(MODULE(ids, lengths).detach().numpy(), expected, rtol=1e-5)


def test_matches_a_fitted_model_in_the_binary_convention():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    docs = [rng.integers(1, V, size=int(rng.integers(0, 15))) for _ in range(120)]
    y = np.array([int((d == 3).any()) for d in docs])
    m = fit_ngram_model(
        docs[:90], y[:90], docs[90:], y[90:], task="binary", num_classes=2, vocab_size=V, buckets=M
    )
    module = m.to_module()
    got = scores(module, [list(d) for d in docs[90:]])
    assert got.shape == (30, 1)
    np.testing.assert_allclose(got[:, 0], m.outputs(docs[90:]), rtol=1e-5, atol=1e-5)


def test_refuses_inconsistent_arrays():
    with pytest.raises(DataError, match="to_module"):
        NgramLinear(
            torch.ones(V), torch.ones(V + M, 1), torch.ones(1), vocab_size=V, buckets=M, prime=PRIME
        )


def test_long_sequences_need_no_cap():
    """Counting sorts each row: B * T * T is no limit (the (B, T, T) compare needed 800 MB of
    booleans here), and a long row with many repeats still equals numpy."""
    rng = np.random.default_rng(2)
    docs = [list(rng.integers(1, V, size=20_000)), list(rng.integers(1, V, size=123))]
    np.testing.assert_allclose(scores(MODULE, docs), reference(MODEL, docs), rtol=1e-5, atol=1e-5)


def test_torchscript_gives_the_same_scores():
    scripted = torch.jit.script(MODULE)
    docs = [[1, 2, 1, 2], [], [3], [5] * 9]
    np.testing.assert_allclose(scores(scripted, docs), scores(MODULE, docs), rtol=1e-6)
    np.testing.assert_allclose(scores(scripted, docs[:1], 2), scores(MODULE, docs[:1]), rtol=1e-6)
    for few in ([[7]], [[]], [[], []], [[4], []]):  # T = 1 (no bigram) and T = 0
        np.testing.assert_allclose(scores(scripted, few), reference(MODEL, few), rtol=1e-5)


def test_onnx_export_with_dynamic_batch_and_steps(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "ngram.onnx"
    torch.onnx.export(
        MODULE,
        batch([[1, 2, 3], [4, 4]]),
        str(path),
        input_names=["ids", "lengths"],
        output_names=["scores"],
        dynamic_axes={"ids": {0: "B", 1: "T"}, "lengths": {0: "B"}, "scores": {0: "B"}},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    cases = [
        [list(rng.integers(1, V, size=n)) for n in (0, 1, 7, 30, 2)],
        [[3, 3, 3, 3, 3]],
        [[], []],
        [[1], [2, 2]],
        [list(rng.integers(1, V, size=20_000)), [3, 3]],  # T**2 would not fit, T log T does
    ]
    for docs in cases:
        for pad in (0, 1):
            ids, lengths = batch(docs, pad=pad)
            (got,) = session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
            np.testing.assert_allclose(got, reference(MODEL, docs), rtol=1e-5, atol=1e-5)
    for docs in ([[6]], [[]], [[2], [9]]):  # T = 1: the bigram stream is empty
        ids, lengths = batch(docs)
        (got,) = session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
        np.testing.assert_allclose(got, reference(MODEL, docs), rtol=1e-5, atol=1e-5)
    assert_no_pairwise_compare(path)


def assert_no_pairwise_compare(path):
    """The graph sorts (TopK) and compares only rank-2 tensors: no (B, T, T) equality, the
    op whose cost grew with T**2."""
    onnx = pytest.importorskip("onnx")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    rank = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]
        if v.type.tensor_type.HasField("shape")
    }
    ops = [n.op_type for n in model.graph.node]
    compares = [n for n in model.graph.node if n.op_type in ("Equal", "Less", "Greater")]
    assert compares and all(rank.get(i, 99) <= 2 for n in compares for i in n.input), [
        (n.op_type, [rank.get(i) for i in n.input]) for n in compares
    ]
    assert "TopK" in ops
