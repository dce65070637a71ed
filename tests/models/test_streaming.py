"""Streaming equals whole-sequence prediction after any split into pieces, for every causal
model case of :mod:`tests.variants` (every pooling, cell and depth, ReLU RNNs, the embedding
skip, tagging and numeric inputs); models that cannot stream say why; the session store expires
idle sessions and caps how many live."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.models.streaming import Stream, StreamState, streamable
from padless.serve.sessions import SessionsFull, SessionStore
from tests.variants import CASES, SMALL_RAGGED, causal, select

_STREAMS: dict = {}


def stream_for(case):
    """(eval model, its Stream), built once per case."""
    if case.name not in _STREAMS:
        model = case.model()
        _STREAMS[case.name] = (model, Stream(model))
    return _STREAMS[case.name]


def whole(model, seq):
    x = torch.as_tensor(seq)[None]
    with torch.no_grad():
        return model(x, torch.tensor([len(seq)]))[0].numpy()


@pytest.mark.parametrize("case", select(causal))
@settings(max_examples=12, deadline=None)
@given(pieces=SMALL_RAGGED, seed=st.integers(0, 2**16))
def test_appending_pieces_equals_the_whole_sequence(case, pieces, seed):
    """One sequence appended in ragged pieces (single steps, equal pieces, a long last one)."""
    model, stream = stream_for(case)
    stops = np.cumsum(pieces).tolist()
    seq = case.inputs([stops[-1]], seed)[0][0]  # (n,) ids or (n, F) features
    state = StreamState()
    tags = []
    for start, stop in zip([0, *stops[:-1]], stops, strict=True):
        out = stream.append(state, seq[start:stop])
        assert state.steps == stop
        if model.pool is None:  # tagging: the rows of the new steps
            tags.append(out)
        else:
            np.testing.assert_allclose(out, whole(model, seq[:stop]), atol=1e-5)
    if tags:
        np.testing.assert_allclose(np.concatenate(tags), whole(model, seq), atol=1e-5)


def test_the_state_really_carries_over():
    model, stream = stream_for(CASES["lstm-uni1-last"])
    seq = np.array([5, 9, 2, 7])
    state = StreamState()
    stream.append(state, seq[:2])
    carried = stream.append(state, seq[2:])
    fresh = stream.append(StreamState(), seq[2:])  # the same steps without the history
    np.testing.assert_allclose(carried, whole(model, seq), atol=1e-5)
    assert np.abs(carried - fresh).max() > 1e-4


def test_models_that_cannot_stream_say_why():
    for case in CASES.values():  # the causal filter agrees with the library, case by case
        reason = streamable(case.model(), ids_per_step=case.ids_per_step)
        assert (reason is None) == causal(case), (case.name, reason)
    bi = CASES["lstm-bi1-last"].model()
    assert "bidirectional" in streamable(bi)
    hybrid = CASES["hybrid-uni-last"].model()
    assert "Transformer" in streamable(hybrid)
    conv = CASES["numeric-conv1-mean"].model(bidirectional=False)
    assert "conv" in streamable(conv)
    uni = CASES["lstm-uni1-last"].model()
    assert streamable(uni) is None
    assert "bigram" in streamable(uni, ids_per_step=2)
    assert "patch" in streamable(uni, patch_size=5)
    from padless.models.classifier import build_model

    combined = build_model(
        {"num_outputs": 2, "vocab_size": 30, "task": "multiclass", "bidirectional": False,
         "mix_path": {"kind": "ngram", "buckets": 64, "prime": 7}, "mix_weight": 0.5}
    )  # fmt: skip
    assert "combined" in streamable(combined)
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
