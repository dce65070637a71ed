"""Length-aware batch samplers: dataset indices grouped by similar length, so padding stays small.

Shapes: B batch, T time steps (padded length). :class:`BucketBatchSampler` yields batches of a
fixed B; :class:`TokenBudgetSampler` yields batches whose padded size B × T stays within
``max_tokens`` (cut by :func:`padless.batching.budget.cut_to_budget`). Pass either as
``batch_sampler`` to a :class:`~torch.utils.data.DataLoader` with
:func:`padless.batching.batch` as ``collate_fn``, and call ``set_epoch`` each epoch.

Both samplers share one plan per epoch, computed from ``(seed, epoch)`` only:

1. permute all indices (``shuffle=True``) and cut the permutation into pools of about
   ``bucket_size_multiplier`` batches; with ``shuffle=False`` there is one pool of all indices;
2. sort each pool by length (stable, ascending) and cut it into batches;
3. shuffle the order of the batches (``shuffle=True``).

``drop_last=True`` drops the *incomplete* batch of a pool: the batch that was closed only
because its pool ran out while it still had room for another sequence. For
:class:`BucketBatchSampler` that is the single batch of fewer than ``batch_size`` indices, so
exactly ``n % batch_size`` indices are dropped per epoch (the longest ones of the final pool,
which is a random pool when shuffling). For :class:`TokenBudgetSampler` at most one batch per
pool is dropped (again the longest sequences of that pool).

Distributed remainder policy (``world_size > 1``): every rank computes the same global plan
(it depends on lengths, seed and epoch, not on rank or world size) and takes batches
``rank, rank + world_size, ...``. When the number of batches ``N`` is not a multiple of
``world_size``:

* ``drop_last=False``: the plan is padded with the first ``world_size - N % world_size``
  batches of the epoch's order (cyclically if ``N < world_size``), like
  :class:`torch.utils.data.DistributedSampler`. Every index is seen at least once across
  ranks; the only duplicates are the indices of those repeated batches, which land on the
  highest ranks as their last batch.
* ``drop_last=True``: the trailing ``N % world_size`` batches of the epoch's order are dropped
  (after dropping incomplete batches), so no index is seen twice.

Either way every rank gets the same number of batches and ranks' batches are disjoint apart
from the repeated padding batches. With ``world_size=1`` each index appears exactly once per
epoch (``drop_last=False``).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch import Tensor
from torch.utils.data import Sampler

from padless.batching.batch import as_array, check_pad_multiple
from padless.batching.budget import cut_to_budget, padded_steps
from padless.errors import config_error, data_error

logger = logging.getLogger(__name__)


def _check_int(name: str, value: Any, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise config_error(name, f"an integer >= {minimum}", repr(value), fix)
    return int(value)


def _validate_lengths(lengths: Any, owner: str) -> np.ndarray:
    where = f"{owner} lengths"
    try:
        arr = as_array(lengths)
    except (ValueError, TypeError) as exc:
        raise data_error(where, "a 1-D array of integers", repr(type(lengths)), None) from exc
    if arr.ndim != 1 or arr.size == 0:
        raise data_error(
            where,
            "a non-empty 1-D array with one length per dataset item",
            f"shape {arr.shape}",
            "pass e.g. dataset.lengths()",
        )
    if arr.dtype.kind not in "iu":
        raise data_error(
            where,
            "integer lengths",
            f"dtype {arr.dtype}",
            "cast with np.asarray(lengths, dtype=np.int64)",
        )
    if (arr < 0).any():
        bad = int(np.flatnonzero(arr < 0)[0])
        raise data_error(
            f"{where}[{bad}]", "a non-negative length", str(int(arr[bad])), "fix the length"
        )
    return arr.astype(np.int64)


class _PlannedBatchSampler(Sampler[list[int]]):
    """Shared plan (pools -> sort -> cut -> shuffle -> shard); subclasses only cut pools."""

    def __init__(
        self,
        lengths: Any,
        *,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        rank: int,
        world_size: int,
        bucket_size_multiplier: int,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.lengths = _validate_lengths(lengths, name)
        self.shuffle = bool(shuffle)
        self.seed = _check_int(f"{name} seed", seed, 0, "use a non-negative integer seed")
        self.drop_last = bool(drop_last)
        self.world_size = _check_int(
            f"{name} world_size", world_size, 1, "pass the number of processes (1 if single)"
        )
        if (
            isinstance(rank, bool)
            or not isinstance(rank, numbers.Integral)
            or not (0 <= rank < self.world_size)
        ):
            raise config_error(
                f"{name} rank",
                f"an integer in [0, {self.world_size}) (0 <= rank < world_size)",
                repr(rank),
                "pass this process's rank, e.g. torch.distributed.get_rank()",
            )
        self.rank: int = int(rank)
        self.bucket_size_multiplier: int = _check_int(
            f"{name} bucket_size_multiplier", bucket_size_multiplier, 1, "use e.g. 50"
        )
        self.epoch: int = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    # -- subclass hook ------------------------------------------------------------------------
    def _pool_size(self) -> int:
        raise NotImplementedError

    def _cut_pool(self, sorted_idx: np.ndarray) -> tuple[list[np.ndarray], bool]:
        """Cut one pool (indices sorted by ascending length) into batches.

        Returns the batches and whether the last one is incomplete (droppable)."""
        raise NotImplementedError

    # -- shared plan --------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan ``__iter__`` and ``__len__`` use."""
        self.epoch = _check_int(f"{type(self).__name__} epoch", epoch, 0, "epochs count from 0")

    def global_batches(self, epoch: int | None = None) -> list[list[int]]:
        """All batches of ``epoch`` (default: current) before sharding across ranks.

        Incomplete batches are already dropped when ``drop_last=True``."""
        epoch = self.epoch if epoch is None else epoch
        n = self.lengths.size
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle:
            perm = rng.permutation(n)
            size = self._pool_size()
            pools = [perm[i : i + size] for i in range(0, n, size)]
        else:
            pools = [np.arange(n)]
        batches: list[np.ndarray] = []
        for pool in pools:
            sorted_idx = pool[np.argsort(self.lengths[pool], kind="stable")]
            cut, last_incomplete = self._cut_pool(sorted_idx)
            if self.drop_last and last_incomplete:
                cut = cut[:-1]
            batches.extend(cut)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return [b.tolist() for b in batches]

    def _rank_batches(self) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        batches = self.global_batches()
        total, w = len(batches), self.world_size
        if w > 1 and total % w:
            if self.drop_last:
                batches = batches[: total - total % w]
            else:
                batches = batches + [batches[i % total] for i in range(w - total % w)]
        mine = batches[self.rank :: w]
        if not mine:
            logger.warning(
                "%s yields no batches for epoch %d (%d items, drop_last=%s, world_size=%d)",
                type(self).__name__,
                self.epoch,
                self.lengths.size,
                self.drop_last,
                w,
            )
        logger.debug(
            "%s epoch %d rank %d: %d of %d global batches",
            type(self).__name__,
            self.epoch,
            self.rank,
            len(mine),
            total,
        )
        self._cache = (self.epoch, mine)
        return mine

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._rank_batches():
            yield list(batch)

    def __len__(self) -> int:
        return len(self._rank_batches())


class BucketBatchSampler(_PlannedBatchSampler):
    """Batches of ``batch_size`` indices with similar lengths (see the module docstring).

    Pools hold ``batch_size * bucket_size_multiplier`` indices; larger pools mean less padding
    but less randomness. ``len(sampler)`` is the number of batches this rank yields this
    epoch. Pass ``lengths`` (one per dataset item) and ``batch_sampler=sampler`` to a
    :class:`~torch.utils.data.DataLoader`.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray | Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        bucket_size_multiplier: int = 50,
    ) -> None:
        self.batch_size = _check_int(
            "BucketBatchSampler batch_size", batch_size, 1, "use a batch size such as 32 or 64"
        )
        super().__init__(
            lengths,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
            bucket_size_multiplier=bucket_size_multiplier,
        )

    def _pool_size(self) -> int:
        return self.batch_size * self.bucket_size_multiplier

    def _cut_pool(self, sorted_idx: np.ndarray) -> tuple[list[np.ndarray], bool]:
        bs = self.batch_size
        batches = [sorted_idx[i : i + bs] for i in range(0, sorted_idx.size, bs)]
        return batches, batches[-1].size < bs


class TokenBudgetSampler(_PlannedBatchSampler):
    """Batches whose padded size ``len(batch) * round_up(max length)`` is <= ``max_tokens``.

    Lengths are rounded up to ``pad_to_multiple_of`` (use the same value as in
    :func:`collate`); a zero length counts as one step. ``max_batch_size`` caps the number of
    sequences per batch. Each sorted pool is cut greedily (as many sequences as fit), which
    gives the fewest batches for that pool. A pool holds about ``bucket_size_multiplier``
    batches: ``bucket_size_multiplier * (max_tokens // median padded length)`` indices.

    Raises :class:`~padless.errors.DataError` at construction if a single sequence does not
    fit in ``max_tokens``.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray | Tensor,
        max_tokens: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        bucket_size_multiplier: int = 50,
        max_batch_size: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        self.max_tokens = _check_int(
            "TokenBudgetSampler max_tokens", max_tokens, 1, "use e.g. 64 * typical length"
        )
        if max_batch_size is not None:
            max_batch_size = _check_int(
                "TokenBudgetSampler max_batch_size", max_batch_size, 1, "or pass None"
            )
        self.max_batch_size = max_batch_size
        check_pad_multiple(pad_to_multiple_of)
        self.pad_to_multiple_of = pad_to_multiple_of
        super().__init__(
            lengths,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
            bucket_size_multiplier=bucket_size_multiplier,
        )
        cost = padded_steps(self.lengths, pad_to_multiple_of)
        self._cost = cost
        too_long = np.flatnonzero(cost > self.max_tokens)
        if too_long.size:
            i = int(too_long[0])
            rounded = "" if not pad_to_multiple_of else f" ({cost[i]} after rounding)"
            raise data_error(
                f"TokenBudgetSampler lengths[{i}]",
                f"every sequence to fit in max_tokens={self.max_tokens}",
                f"length {int(self.lengths[i])}{rounded}"
                + (f" and {too_long.size - 1} more too long" if too_long.size > 1 else ""),
                f"raise max_tokens to at least {int(cost.max())} or truncate sequences to "
                f"at most {self.max_tokens} steps",
            )

    def _pool_size(self) -> int:
        per_batch = max(1, self.max_tokens // int(np.median(self._cost)))
        if self.max_batch_size is not None:
            per_batch = min(per_batch, self.max_batch_size)
        return per_batch * self.bucket_size_multiplier

    def _cut_pool(self, sorted_idx: np.ndarray) -> tuple[list[np.ndarray], bool]:
        cost = self._cost[sorted_idx]  # ascending
        cuts = cut_to_budget(cost, self.max_tokens, max_count=self.max_batch_size)
        batches = [sorted_idx[cut] for cut in cuts]
        last = batches[-1]
        limit = self.max_batch_size or self.max_tokens  # each sequence costs >= 1 step
        room = (last.size + 1) * cost[-1] <= self.max_tokens
        return batches, bool(last.size < limit and room)
