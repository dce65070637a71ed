"""Streaming equals whole-sequence prediction after any split into pieces, for every pooling,
cell, the embedding skip, tagging and numeric inputs; models that cannot stream say why; the
session store expires idle sessions and caps how many live."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.models.classifier import SequenceClassifier
from padless.models.streaming import Stream, StreamState, streamable
from padless.serve.sessions import SessionsFull, SessionStore

V, F = 40, 3
CASES = {
    "lstm-last": dict(cell="lstm", pooling="last"),
    "lstm-mean-2layers": dict(cell="lstm", pooling="mean", num_layers=2),
    "gru-max": dict(cell="gru", pooling="max"),
    "rnn-attention": dict(cell="rnn", pooling="attention"),
    "rnn-relu-last": dict(cell="rnn", pooling="last", nonlinearity="relu"),
    "lstm-attention-skip": dict(cell="lstm", pooling="attention", embedding_skip=True),
    "gru-tagging": dict(cell="gru", task="tagging"),
    "numeric-lstm-max": dict(cell="lstm", pooling="max", numeric=True),
}
_MODELS: dict = {}


def build(name):
    if name not in _MODELS:
        kw = dict(CASES[name])
        numeric = kw.pop("numeric", False)
        torch.manual_seed(len(name))
        inputs = {"num_features": F} if numeric else {"vocab_size": V}
        model = SequenceClassifier(
            num_outputs=3, embedding_dim=8, hidden_size=8, bidirectional=False, **inputs, **kw
        ).eval()
        _MODELS[name] = (model, numeric, Stream(model))
    return _MODELS[name]


def whole(model, seq):
    x = torch.as_tensor(seq)[None]
    with torch.no_grad():
        return model(x, torch.tensor([len(seq)]))[0].numpy()


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_appending_pieces_equals_the_whole_sequence(name, data):
    model, numeric, stream = build(name)
    n = data.draw(st.integers(1, 40), label="steps")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    seq = rng.normal(size=(n, F)).astype(np.float32) if numeric else rng.integers(1, V, n)
    cuts = (
        sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=6), label="cuts")) if n > 1 else []
    )
    state = StreamState()
    tags = []
    for start, stop in zip([0, *cuts], [*cuts, n], strict=True):
        out = stream.append(state, seq[start:stop])
        assert state.steps == stop
        if model.pool is None:  # tagging: the rows of the new steps
            tags.append(out)
        else:
            np.testing.assert_allclose(out, whole(model, seq[:stop]), atol=1e-5)
    if tags:
        np.testing.assert_allclose(np.concatenate(tags), whole(model, seq), atol=1e-5)


def test_the_state_really_carries_over():
    model, _, stream = build("lstm-last")
    seq = np.array([5, 9, 2, 7])
    state = StreamState()
    stream.append(state, seq[:2])
    carried = stream.append(state, seq[2:])
    fresh = stream.append(StreamState(), seq[2:])  # the same steps without the history
    np.testing.assert_allclose(carried, whole(model, seq), atol=1e-5)
    assert np.abs(carried - fresh).max() > 1e-4


def test_models_that_cannot_stream_say_why():
    def tiny(**kw):
        return SequenceClassifier(num_outputs=2, vocab_size=V, embedding_dim=8, hidden_size=8, **kw)

    bi = tiny()
    assert "bidirectional" in streamable(bi)
    hybrid = tiny(bidirectional=False, transformer_layers=1, transformer_heads=2)
    assert "Transformer" in streamable(hybrid)
    conv = tiny(bidirectional=False, conv_channels=4)
    assert "conv" in streamable(conv)
    uni, _, _ = build("lstm-last")
    assert streamable(uni) is None
    assert "bigram" in streamable(uni, ids_per_step=2)
    assert "patch" in streamable(uni, patch_size=5)
    with pytest.raises(ValueError, match="bidirectional"):
        Stream(bi)


def test_session_store_ttl_cap_and_delete():
    now = [0.0]
    store = SessionStore(StreamState, max_sessions=2, ttl_s=10, clock=lambda: now[0])
    a = store.create()
    b = store.create()
    assert a != b and len(store) == 2
    with pytest.raises(SessionsFull):
        store.create()
    now[0] = 8.0
    assert store.get(a) is not None  # used at t=8: its idle clock restarts
    now[0] = 15.0
    assert store.get(b) is None  # idle 15 s > 10 s: expired
    c = store.create()  # room again
    assert store.delete(c) and not store.delete(c)
    now[0] = 30.0
    assert store.sweep() == 1 and len(store) == 0
