"""Collation: a list of ragged samples → one right-padded :class:`Batch`.

Shapes: B batch, T time steps (padded length), F input features per step, K ids per step,
C outputs. :func:`collate` pads 1-D token ids to (B, T), (T, K) ids to (B, T, K) and (T, F)
features to (B, T, F), with T the longest length (optionally rounded up to a multiple, e.g. 8
for tensor cores), and returns the lengths (B,) and a (B, T) mask of real steps next to them;
labels become class ids (B,), targets (B,) or (B, C), or per-step tags (B, T) padded with
:data:`IGNORE_INDEX`. Every malformed sample raises a :class:`~padless.errors.DataError` that
names its position in the batch. :func:`make_batch` collates examples of an encoded split by
index, as training and evaluation do.

Typical use, with a length-aware sampler (:mod:`padless.batching.samplers`)::

    sampler = BucketBatchSampler(lengths, batch_size=64, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            batch = batch.to(device)
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from padless.errors import config_error, data_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Batch:
    """A right-padded batch.

    * ``inputs``: int64 token ids (B, T) or float32 features (B, T, F).
    * ``lengths``: int64 (B,), always on CPU (``pack_padded_sequence`` requires that).
    * ``mask``: bool (B, T), True where the step is real (``arange(T) < lengths``).
    * ``labels``: int64 (B,) class ids, float32 (B,) targets, float32 (B, C) multi-hot or
      vector targets, int64 (B, T) per-step tags, or None.

    ``eq=False``: tensors have no single truth value, so batches compare by identity.
    """

    inputs: Tensor
    lengths: Tensor
    mask: Tensor
    labels: Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move inputs, mask and labels to ``device``; ``lengths`` stays on the CPU."""
        return dataclasses.replace(
            self,
            inputs=self.inputs.to(device, non_blocking=non_blocking),
            mask=self.mask.to(device, non_blocking=non_blocking),
            labels=None
            if self.labels is None
            else self.labels.to(device, non_blocking=non_blocking),
        )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_tokens(self) -> int:
        """Real (unpadded) time steps in the batch."""
        return int(self.lengths.sum())

    @property
    def padded_tokens(self) -> int:
        """Computed time steps including padding: B * T."""
        return int(self.mask.numel())

    def __repr__(self) -> str:
        labels = None if self.labels is None else tuple(self.labels.shape)
        return (
            f"Batch(inputs={tuple(self.inputs.shape)} {self.inputs.dtype}, "
            f"labels={labels}, num_tokens={self.num_tokens}, "
            f"padded_tokens={self.padded_tokens})"
        )


def as_array(x: Any) -> np.ndarray:
    """``x`` (a tensor on any device, a numpy array or nested lists) as a numpy array."""
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _is_pair(sample: Any) -> bool:
    """``(sequence, label)`` is a 2-tuple whose first element is array-like (not a scalar)."""
    if not (isinstance(sample, tuple) and len(sample) == 2):
        return False
    first = sample[0]
    if isinstance(first, (Tensor, np.ndarray)):
        return first.ndim >= 1
    return isinstance(first, (list, tuple))


def _round_up(value: int, multiple: int | None) -> int:
    if not multiple:
        return value
    return -(-value // multiple) * multiple


def check_pad_multiple(pad_to_multiple_of: int | None) -> None:
    """Refuse a ``pad_to_multiple_of`` that is neither None nor an integer >= 1
    (:class:`~padless.errors.ConfigError`)."""
    if pad_to_multiple_of is not None and (
        not isinstance(pad_to_multiple_of, numbers.Integral) or pad_to_multiple_of < 1
    ):
        raise config_error(
            "pad_to_multiple_of",
            "None or an integer >= 1",
            repr(pad_to_multiple_of),
            "pass e.g. 8, or None to pad to the longest sequence",
        )


def _describe(arr: np.ndarray) -> str:
    if arr.ndim == 2:
        return f"a 2-D {arr.dtype} array (T={arr.shape[0]}, F={arr.shape[1]})"
    return f"a {arr.ndim}-D {arr.dtype} array of shape {arr.shape}"


def _sequence_array(seq: Any, i: int) -> np.ndarray:
    where = f"collate: sample {i}"
    try:
        arr = as_array(seq)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise data_error(
            where,
            "a 1-D token-id sequence or a 2-D (T, F) float array",
            f"something numpy cannot read as one array ({exc})",
            "give every row of a (T, F) sequence the same number of features",
        ) from exc
    if arr.ndim not in (1, 2):
        raise data_error(
            where,
            "a 1-D token-id sequence or a 2-D (T, F) float array",
            _describe(arr),
            "reshape the sequence to (T,) token ids or (T, F) features",
        )
    if arr.shape[0] == 0:
        raise data_error(
            where,
            "a sequence with at least one time step",
            "a zero-length sequence",
            "drop empty sequences before batching (or give them a placeholder token)",
        )
    if arr.ndim == 1:
        if arr.dtype.kind not in "iu":
            raise data_error(
                where,
                "integer token ids for a 1-D sequence",
                f"dtype {arr.dtype}",
                "cast token ids to int, or reshape a univariate series to (T, 1) features",
            )
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind not in "biuf" or arr.shape[1] == 0:
        raise data_error(
            where,
            "a numeric (T, F) array with F >= 1",
            _describe(arr),
            "convert the features to float before batching",
        )
    if arr.dtype.kind in "iu":  # (T, K) token ids per step, e.g. word + bigram (text.ngrams)
        return arr.astype(np.int64, copy=False)
    out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise data_error(
            where,
            "finite feature values",
            "NaN or infinite values",
            "impute or drop missing values before batching",
        )
    return out


def _per_step_labels(
    arrays: list[np.ndarray], lengths: np.ndarray, t_max: int, label_pad_value: int
) -> Tensor:
    """One integer tag per real step → int64 (B, T), padded with ``label_pad_value``."""
    out = np.full((len(arrays), t_max), label_pad_value, dtype=np.int64)
    for i, arr in enumerate(arrays):
        if arr.ndim != 1 or arr.dtype.kind not in "biu" or arr.shape[0] != lengths[i]:
            raise data_error(
                f"collate: per-step labels of sample {i}",
                f"a 1-D integer array of length {lengths[i]} (the sequence length)",
                _describe(arr),
                "give one tag per time step, or pass per_step_labels=False",
            )
        out[i, : arr.shape[0]] = arr
    return torch.from_numpy(out)


def _collate_labels(
    labels: list[Any], lengths: np.ndarray, t_max: int, per_step: bool, label_pad_value: int
) -> Tensor | None:
    """The batch's labels as one tensor (see :func:`collate`), or None when no sample has one."""
    present = [lab is not None for lab in labels]
    if not any(present):
        return None
    if not all(present):
        missing = present.index(False)
        raise data_error(
            f"collate: sample {missing}",
            "a label for every sample of the batch (or for none)",
            "a missing label (None) next to labelled samples",
            "label every sample, or batch unlabelled samples separately",
        )
    arrays = []
    for i, lab in enumerate(labels):
        arr = as_array(lab)
        if arr.dtype.kind not in "biuf":
            raise data_error(
                f"collate: label of sample {i}",
                "a numeric label (class id, float target or array)",
                f"{arr.dtype} value {lab!r}"[:200],
                "map label names to integer ids (LabelSpace) before batching",
            )
        arrays.append(arr)

    if per_step:
        return _per_step_labels(arrays, lengths, t_max, label_pad_value)
    ndims = {arr.ndim for arr in arrays}
    if ndims == {0}:
        kinds = {arr.dtype.kind for arr in arrays}
        if kinds <= set("biu"):
            return torch.from_numpy(np.array(arrays, dtype=np.int64))
        return torch.from_numpy(np.array(arrays, dtype=np.float32))
    if ndims == {1}:
        sizes = {arr.shape[0] for arr in arrays}
        if len(sizes) > 1:
            first = arrays[0].shape[0]
            bad = next(i for i, arr in enumerate(arrays) if arr.shape[0] != first)
            raise data_error(
                f"collate: label of sample {bad}",
                f"a label vector of size {first} like sample 0",
                f"size {arrays[bad].shape[0]}",
                "use one label size for all samples; for one tag per time step pass "
                "per_step_labels=True",
            )
        return torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))
    bad = next(i for i, arr in enumerate(arrays) if arr.ndim != arrays[0].ndim or arr.ndim > 1)
    raise data_error(
        f"collate: label of sample {bad}",
        "labels of one kind: all scalars or all 1-D vectors of one size",
        f"{_describe(arrays[bad])} (sample 0 has {_describe(arrays[0])})",
        "use the same label kind for every sample",
    )


def collate(
    samples: Sequence[Any],
    *,
    pad_value: int | float = 0,
    pad_to_multiple_of: int | None = None,
    label_pad_value: int = -100,
    per_step_labels: bool = False,
) -> Batch:
    """Right-pad ``samples`` into a :class:`Batch`.

    A sample is ``(sequence, label)`` (a 2-tuple whose first element is array-like) or just a
    ``sequence``. Sequences are 1-D integer token ids (list, numpy array or tensor; the batch
    ``inputs`` are int64 (B, T)), 2-D integer (T, K) arrays of K token ids per step (int64
    (B, T, K); e.g. word + bigram ids, summed by the model's embedding) or 2-D float (T, F)
    feature arrays (``inputs`` float32 (B, T, F)).
    ``T`` is the longest length, rounded up to a multiple of ``pad_to_multiple_of`` if given.

    Labels: all None -> ``labels=None``; ints -> int64 (B,); numbers with at least one float ->
    float32 (B,); 1-D arrays of one size C -> float32 (B, C); with ``per_step_labels=True``,
    1-D int arrays as long as their sequence -> int64 (B, T) padded with ``label_pad_value``.

    Raises :class:`~padless.errors.DataError` for an empty batch, a zero-length sequence, mixed
    sequence kinds or feature counts, non-finite features and malformed labels; messages name
    the sample's position in the batch.
    """
    check_pad_multiple(pad_to_multiple_of)
    seqs, labels = _split_samples(samples)
    arrays = _sequence_arrays(seqs)
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    t_max = _round_up(int(lengths.max()), pad_to_multiple_of)
    inputs = _pad_inputs(arrays, t_max, pad_value)
    lengths_t = torch.from_numpy(lengths)
    mask = torch.arange(t_max).unsqueeze(0) < lengths_t.unsqueeze(1)
    return Batch(
        inputs=torch.from_numpy(inputs),
        lengths=lengths_t,
        mask=mask,
        labels=_collate_labels(labels, lengths, t_max, per_step_labels, label_pad_value),
    )


def _split_samples(samples: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(sequences, labels)`` of a non-empty batch of samples of one form (labels all None
    for bare sequences)."""
    if len(samples) == 0:
        raise data_error(
            "collate",
            "at least one sample",
            "an empty list",
            "check the sampler: it must not yield empty batches",
        )
    pairs = [_is_pair(s) for s in samples]
    if any(pairs) and not all(pairs):
        bad = pairs.index(not pairs[0])
        raise data_error(
            f"collate: sample {bad}",
            "every sample in the same form, all (sequence, label) tuples or all bare sequences",
            "a mix of both",
            "return the same structure from every dataset item",
        )
    if pairs[0]:
        return [s[0] for s in samples], [s[1] for s in samples]
    return list(samples), [None] * len(samples)


def _sequence_arrays(seqs: list[Any]) -> list[np.ndarray]:
    """Every sequence as a checked array, all of sample 0's kind (dtype, rank, features)."""
    arrays = [_sequence_array(s, i) for i, s in enumerate(seqs)]
    ref = arrays[0]
    for i, arr in enumerate(arrays[1:], start=1):
        if (
            arr.ndim != ref.ndim
            or arr.dtype != ref.dtype
            or (arr.ndim == 2 and arr.shape[1] != ref.shape[1])
        ):
            what = "1-D token ids" if ref.ndim == 1 else f"(T, {ref.shape[1]}) {ref.dtype} values"
            raise data_error(
                f"collate: sample {i}",
                f"{what} like sample 0",
                "1-D token ids" if arr.ndim == 1 else _describe(arr),
                "put only one kind of sequence (same feature count) in a dataset",
            )
    return arrays


def _pad_inputs(arrays: list[np.ndarray], t_max: int, pad_value: int | float) -> np.ndarray:
    """The sequences right-padded with ``pad_value`` to T = ``t_max``: int64 (B, T) or
    (B, T, K) ids, or float32 (B, T, F) features."""
    ref = arrays[0]
    if ref.dtype == np.int64:
        if not float(pad_value).is_integer():
            raise config_error(
                "collate pad_value",
                "an integer for token-id inputs",
                repr(pad_value),
                "use the padding token id, e.g. 0",
            )
        inputs = np.full((len(arrays), t_max, *ref.shape[1:]), int(pad_value), dtype=np.int64)
    else:
        inputs = np.full((len(arrays), t_max, ref.shape[1]), pad_value, dtype=np.float32)
    for i, arr in enumerate(arrays):
        inputs[i, : arr.shape[0]] = arr
    return inputs


IGNORE_INDEX = -100  # the label of padded steps in per-step (tagging) targets


class Samples(Protocol):
    """Anything that hands out ``(inputs, target)`` pairs by index, e.g.
    :class:`padless.encode.Split`."""

    def samples(self, idx: Sequence[int] | np.ndarray) -> list[tuple[Any, Any]]: ...


def make_batch(
    split: Samples,
    idx: Sequence[int] | np.ndarray,
    task: str,
    pad_to_multiple_of: int | None = None,
) -> Batch:
    """Collate the examples ``idx`` (a list, or an index array as the samplers' ``batches()``
    give) of ``split``; for ``task == "tagging"`` the labels are per-step, padded with
    :data:`IGNORE_INDEX`."""
    return collate(
        split.samples(idx),
        per_step_labels=task == "tagging",
        label_pad_value=IGNORE_INDEX,
        pad_to_multiple_of=pad_to_multiple_of,
    )
