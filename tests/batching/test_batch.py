"""padless.batching.batch: collate, Batch and make_batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from padless.batching.batch import Batch, collate
from padless.batching.samplers import BucketBatchSampler
from padless.errors import ConfigError, DataError

FAST = settings(max_examples=40, deadline=None)


# ---------------------------------------------------------------------------------------------
# collate / Batch
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    st.lists(st.lists(st.integers(1, 1000), min_size=1, max_size=30), min_size=1, max_size=12),
    st.sampled_from([None, 1, 4, 8]),
    st.integers(-1, 5),
)
def test_collate_tokens_shapes_mask_padding_roundtrip(seqs, multiple, pad):
    batch = collate(seqs, pad_value=pad, pad_to_multiple_of=multiple)
    lengths = [len(s) for s in seqs]
    t = max(lengths) if multiple is None else -(-max(lengths) // multiple) * multiple
    assert batch.inputs.shape == (len(seqs), t) and batch.inputs.dtype == torch.int64
    assert batch.lengths.tolist() == lengths and batch.lengths.dtype == torch.int64
    assert batch.lengths.device.type == "cpu"
    assert batch.mask.dtype == torch.bool
    assert torch.equal(batch.mask, torch.arange(t)[None, :] < batch.lengths[:, None])
    assert (batch.inputs[~batch.mask] == pad).all()
    assert [batch.inputs[i, :n].tolist() for i, n in enumerate(lengths)] == seqs
    assert batch.labels is None
    assert len(batch) == len(seqs)
    assert batch.num_tokens == sum(lengths) and batch.padded_tokens == len(seqs) * t


@FAST
@given(
    st.lists(st.integers(1, 20), min_size=1, max_size=8),
    st.integers(1, 4),
    st.sampled_from([None, 3]),
)
def test_collate_features_roundtrip(lengths, f, multiple):
    rng = np.random.default_rng(len(lengths))
    seqs = [rng.normal(size=(n, f)) for n in lengths]  # float64 in, float32 out
    batch = collate(
        [(s, i) for i, s in enumerate(seqs)], pad_value=-1.5, pad_to_multiple_of=multiple
    )
    t = batch.inputs.shape[1]
    assert batch.inputs.shape == (len(seqs), t, f) and batch.inputs.dtype == torch.float32
    assert t == (max(lengths) if multiple is None else -(-max(lengths) // multiple) * multiple)
    assert (batch.inputs[~batch.mask] == -1.5).all()
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(batch.inputs[i, : lengths[i]].numpy(), s, rtol=1e-6)
    assert batch.labels.tolist() == list(range(len(seqs)))


def test_collate_accepts_numpy_and_tensor_token_sequences():
    batch = collate([np.array([3, 4], dtype=np.int32), torch.tensor([5]), (7, 8, 9)])
    assert batch.inputs.tolist() == [[3, 4, 0], [5, 0, 0], [7, 8, 9]]


def test_collate_label_kinds():
    seqs = [[1, 2, 3], [4]]
    ints = collate([(seqs[0], 2), (seqs[1], np.int64(0))]).labels
    assert ints.dtype == torch.int64 and ints.tolist() == [2, 0]
    floats = collate([(seqs[0], 0.5), (seqs[1], 2)]).labels
    assert floats.dtype == torch.float32 and floats.tolist() == [0.5, 2.0]
    multi = collate([(seqs[0], [1, 0, 1]), (seqs[1], np.array([0, 1, 0]))]).labels
    assert multi.dtype == torch.float32 and multi.shape == (2, 3)
    assert multi.tolist() == [[1, 0, 1], [0, 1, 0]]
    tags = collate(
        [(seqs[0], [5, 6, 7]), (seqs[1], torch.tensor([8]))],
        per_step_labels=True,
        label_pad_value=-100,
        pad_to_multiple_of=4,
    ).labels
    assert tags.dtype == torch.int64
    assert tags.tolist() == [[5, 6, 7, -100], [8, -100, -100, -100]]


def test_collate_errors_name_the_sample():
    with pytest.raises(DataError, match="sample 2") as exc:
        collate([[1], [2, 3], [], [4]])
    assert "zero-length" in str(exc.value) and "Fix:" in str(exc.value)
    with pytest.raises(DataError, match="sample 1"):
        collate([[1, 2], np.ones((3, 2), dtype=np.float32)])
    with pytest.raises(DataError, match="sample 1.*F=3"):
        collate([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(DataError, match="at least one sample"):
        collate([])
    with pytest.raises(DataError, match="sample 0.*integer token ids"):
        collate([np.array([0.5, 1.5])])
    with pytest.raises(DataError, match="sample 1.*finite"):
        collate([np.ones((2, 1)), np.array([[np.nan]])])
    with pytest.raises(DataError, match="sample 1.*missing label"):
        collate([([1], 0), ([2], None)])
    with pytest.raises(DataError, match="sample 1.*per_step_labels=True"):
        collate([([1, 2], [0, 1]), ([3], [1])])
    with pytest.raises(DataError, match="per-step labels of sample 1.*length 1"):
        collate([([1, 2], [0, 1]), ([3], [1, 1])], per_step_labels=True)
    with pytest.raises(DataError, match="LabelSpace"):
        collate([([1, 2], "pos")])
    with pytest.raises(DataError, match="same form"):
        collate([([1, 2], 0), [3]])
    with pytest.raises(ConfigError, match="pad_to_multiple_of"):
        collate([[1]], pad_to_multiple_of=0)


def test_batch_to_keeps_lengths_on_cpu():
    batch = collate([([1, 2], 1), ([3], 0)])
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved.lengths is batch.lengths
    assert "Batch(inputs=(2, 2)" in repr(batch)
    if torch.cuda.is_available():  # pragma: no cover - exercised on GPU machines only
        cuda = batch.to("cuda")
        assert cuda.inputs.is_cuda and cuda.mask.is_cuda and cuda.labels.is_cuda
        assert cuda.lengths.device.type == "cpu" and cuda.lengths.dtype == torch.int64


def test_dataloader_integration():
    lengths = [3, 1, 4, 1, 5, 9, 2, 6]
    data = [(list(range(1, n + 1)), n % 2) for n in lengths]
    sampler = BucketBatchSampler(lengths, batch_size=3, seed=1)
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate)
    seen = 0
    for batch in loader:
        assert isinstance(batch, Batch) and len(batch) <= 3
        seen += len(batch)
    assert seen == len(lengths) and len(loader) == len(sampler)


def test_collate_keeps_k_token_ids_per_step_as_int64():
    a = np.array([[3, 10], [4, 0], [5, 11]], dtype=np.int64)
    b = np.array([[6, 12]], dtype=np.int64)
    batch = collate([(a, 1), (b, 0)], pad_to_multiple_of=4)
    assert batch.inputs.dtype == torch.int64 and batch.inputs.shape == (2, 4, 2)
    assert batch.inputs[1, 1:].eq(0).all() and batch.inputs[0, :3].tolist() == a.tolist()
    with pytest.raises(DataError, match="sample 1"):
        collate([a, b.astype(np.float32)])
