import io
import warnings
from itertools import combinations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.errors import DataError
from padless.models.rocket import NUM_KERNELS, RocketLinear, kernel_weights

CONFIG = {"num_features_in": 3, "dilations": [1, 2, 5], "features_per_dilation": [2, 3, 1]}


def make_module(num_outputs=4, seed=0, config=None):
    """Random buffers; integer biases + 0.5 and integer inputs make every comparison exact."""
    cfg = {**(config or CONFIG), "num_outputs": num_outputs}
    m = RocketLinear(**cfg)
    g = torch.Generator().manual_seed(seed)
    state = {
        "channel_mask": (torch.rand(m.channel_mask.shape, generator=g) > 0.5).float(),
        "biases": torch.randint(-6, 6, m.biases.shape, generator=g).float() + 0.5,
        "mean": torch.rand(m.mean.shape, generator=g),
        "std": torch.rand(m.std.shape, generator=g) + 0.5,
        "linear.weight": torch.randn(m.linear.weight.shape, generator=g),
        "linear.bias": torch.randn(m.linear.bias.shape, generator=g),
    }
    m.load_state_dict(state)
    return m.eval()


def batch(lengths, features=3, extra=0, seed=0):
    """Right-padded integer-valued inputs; the padding holds large junk, not zeros."""
    rng = np.random.default_rng(seed)
    t = max(lengths, default=0) + extra
    x = rng.integers(-3, 4, size=(len(lengths), t, features)).astype(np.float32)
    for i, n in enumerate(lengths):
        x[i, n:] = rng.uniform(-1e3, 1e3, size=(t - n, features))
    return torch.from_numpy(x), torch.tensor(lengths, dtype=torch.int64)


def reference(m, x, n):
    """Plain numpy loops: MiniRocket's definition on one series x (n, F) (float64)."""
    w = np.array([[2.0 if j in idx else -1.0 for j in range(9)]
                  for idx in combinations(range(9), 3)])  # fmt: skip
    mask, biases = m.channel_mask.numpy(), m.biases.numpy()
    feats, f = [], 0
    for i, (d, per) in enumerate(zip(m.dilations, m.features_per_dilation, strict=True)):
        for k in range(NUM_KERNELS):
            s = x[:n].astype(np.float64) @ mask[:, i * NUM_KERNELS + k]
            padded = np.concatenate([np.zeros(4 * d), s, np.zeros(4 * d)])
            c = np.array([sum(w[k, j] * padded[t + j * d] for j in range(9)) for t in range(n)])
            if (i + k) % 2:
                c = c[4 * d : n - 4 * d] if n > 8 * d else c[:0]
            for b in biases[f : f + per]:
                feats.append(float(np.mean(c > b)) if len(c) else 0.0)
            f += per
    return np.array(feats)


def test_kernels_are_minirocket():
    w = kernel_weights()
    assert w.shape == (84, 9)
    assert torch.all(w.sum(dim=1) == 0)
    assert len({tuple(r.tolist()) for r in w}) == 84


def test_matches_reference_definition():
    m = make_module()
    lengths = [1, 2, 8, 9, 17, 41, 60]
    x, lens = batch(lengths)
    with torch.no_grad():
        got = m.transform(x, lens).numpy()
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i], reference(m, x[i].numpy(), n), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 45), min_size=1, max_size=6),
    extra=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_rows_depend_on_their_real_steps_only(lengths, extra, seed):
    m = make_module(seed=seed % 7)
    x, lens = batch(lengths, extra=extra, seed=seed)
    with torch.no_grad():
        feats, scores = m.transform(x, lens), m(x, lens)
        for i, n in enumerate(lengths):
            alone = m.transform(x[i : i + 1, :n], lens[i : i + 1])
            assert torch.equal(feats[i : i + 1], alone)  # bitwise
            torch.testing.assert_close(scores[i : i + 1], m(x[i : i + 1, :n], lens[i : i + 1]))
        perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(m.transform(x[perm], lens[perm]), feats[perm])


def test_short_long_and_empty_batches():
    m = make_module()
    x, lens = batch([1, 2, 300, 3])
    with torch.no_grad():
        feats = m.transform(x, lens)
        assert feats.shape == (4, m.num_transform_features)
        assert torch.all((feats >= 0) & (feats <= 1))
        # length 1 with dilation 5: "no padding" combinations count no position, so 0
        no_pad = ~m.same[2].repeat_interleave(1)
        start = NUM_KERNELS * (2 + 3)
        assert torch.all(feats[0, start:][no_pad] == 0)
        empty = m(torch.zeros(0, 5, 3), torch.zeros(0, dtype=torch.int64))
    assert empty.shape == (0, 4)


def test_rebuild_from_config_and_state_dict():
    m = make_module()
    again = RocketLinear.from_config(m.config())
    again.load_state_dict(m.state_dict())
    x, lens = batch([5, 30, 11])
    with torch.no_grad():
        assert torch.equal(again(x, lens), m(x, lens))
    assert set(m.state_dict()) == {
        "channel_mask", "biases", "mean", "std", "linear.weight", "linear.bias"
    }  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"dilations": []},
        {"dilations": [1, 2], "features_per_dilation": [1]},
        {"dilations": [0], "features_per_dilation": [1]},
        {"num_features_in": 0},
    ],
)
def test_rejects_bad_shapes(bad):
    with pytest.raises(DataError):
        RocketLinear(**{**CONFIG, "num_outputs": 2, **bad})


def test_torchscript_matches_eager():
    m = make_module()
    scripted = torch.jit.script(m)
    for lengths in ([4, 1, 33], [2], [50, 50, 7, 9, 1]):
        x, lens = batch(lengths, extra=3)
        with torch.no_grad():
            assert torch.equal(scripted(x, lens), m(x, lens))


def test_onnx_runtime_matches_eager_with_dynamic_batch_and_steps():
    ort = pytest.importorskip("onnxruntime")
    m = make_module()
    x, lens = batch([6, 20, 1])
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m, (x, lens), buf, opset_version=17, dynamo=False,
            input_names=["x", "lengths"], output_names=["scores"],
            dynamic_axes={"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "scores": {0: "B"}},
        )  # fmt: skip
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for lengths, extra in (([6, 20, 1], 0), ([3], 0), ([70, 2, 15, 9, 40], 5), ([1, 1], 0)):
        x, lens = batch(lengths, extra=extra, seed=len(lengths))
        got = sess.run(None, {"x": x.numpy(), "lengths": lens.numpy()})[0]
        with torch.no_grad():
            want = m(x, lens).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
