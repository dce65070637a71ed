"""Model cases and ragged batches shared by the export parity tests (ONNX, TorchScript)."""

import numpy as np
import torch
from hypothesis import strategies as st

from padless.models.classifier import SequenceClassifier

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

# Lengths 1-30 in batches up to 64, all equal, or short ones with one long outlier.
ragged = st.one_of(
    st.lists(st.integers(1, 30), min_size=1, max_size=64),
    st.integers(1, 30).flatmap(lambda n: st.lists(st.just(n), min_size=1, max_size=8)),
    st.lists(st.integers(1, 3), min_size=1, max_size=8).map(lambda xs: xs + [60]),
)


def build(spec):
    """(eval-mode model, numeric?, ids per step) for one CASES entry."""
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


def _draw(rng, shape, numeric, k):
    if numeric:
        return rng.normal(size=(*shape, F)).astype(np.float32)
    return rng.integers(1, V, size=shape if k == 1 else (*shape, k)).astype(np.int64)


def batch(lengths, numeric, k, seed, pad=0, garbage=False):
    """Right-padded numpy inputs for ``lengths`` plus ``pad`` extra steps, and int64 lengths;
    the padded steps are zero or, with ``garbage``, random values. The real steps depend on
    ``seed`` and lengths only."""
    b, t = len(lengths), max(lengths)
    x = _draw(np.random.default_rng(seed), (b, t), numeric, k)
    x = np.concatenate([x, np.zeros_like(_draw(np.random.default_rng(0), (b, pad), numeric, k))], 1)
    real = np.arange(t + pad)[None, :] < np.asarray(lengths)[:, None]
    real = real.reshape(b, t + pad, *[1] * (x.ndim - 2))
    noise = _draw(np.random.default_rng(seed + 1), (b, t + pad), numeric, k)
    x = np.where(real, x, noise if garbage else 0).astype(x.dtype)
    return x, np.asarray(lengths, dtype=np.int64)


def padding_and_order(run, numeric, k, lengths=(5, 1, 12, 3)):
    """Outputs of ``run(x, lengths) -> ndarray`` on one ragged batch, on the same batch with
    garbage in 7 extra padded steps, and on the batch reversed (rows put back in order):
    ``(base, padded, flipped)``. An exact export gives the same rows in all three."""
    lengths = list(lengths)
    x, lens = batch(lengths, numeric, k, seed=1)
    noisy, _ = batch(lengths, numeric, k, seed=1, pad=7, garbage=True)
    order = np.arange(len(lengths))[::-1].copy()
    base = run(x, lens)
    return base, run(noisy, lens), run(x[order], lens[order])[np.argsort(order)]
