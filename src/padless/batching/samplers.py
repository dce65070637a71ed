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

The plan is vectorised (one 2-D sort over every pool) and its batches are views of one index
array: iterating yields each batch as a ``list[int]`` when it is reached, and ``batches()``
gives them as arrays (the training loop, which then builds no list per batch up front).
``plan_ahead(epoch)`` computes an epoch's plan on a background thread (training overlaps it
with building the model and optimizer); the plan is the same either way.

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
import threading
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
        self._cache: tuple[int, list[np.ndarray]] | None = None
        self._ahead: tuple[int, threading.Thread, dict[str, Any]] | None = None
        # The sort key: uint16 when every length fits (the usual case) sorts 8x faster
        # (numpy's stable sort is a radix sort for 16-bit keys) and orders exactly alike.
        fits = int(self.lengths.max()) < 2**16
        self._keys: np.ndarray = self.lengths.astype(np.uint16) if fits else self.lengths

    # -- subclass hooks -----------------------------------------------------------------------
    def _pool_size(self) -> int:
        raise NotImplementedError

    def _cut_pool(self, sorted_idx: np.ndarray) -> tuple[list[np.ndarray], bool]:
        """Cut one pool (indices sorted by ascending length) into batches.

        Returns the batches and whether the last one is incomplete (droppable)."""
        raise NotImplementedError

    def _cut_pools(self, full: np.ndarray, rest: np.ndarray) -> list[np.ndarray]:
        """The batches of the sorted pools, in pool order, incomplete ones dropped when
        ``drop_last``: ``full`` holds one equal-size pool per row, ``rest`` the last, shorter
        pool (may be empty). Subclasses may override this with a vectorised cut."""
        batches: list[np.ndarray] = []
        for pool in [*full, rest] if rest.size else list(full):
            cut, last_incomplete = self._cut_pool(pool)
            batches.extend(cut[:-1] if self.drop_last and last_incomplete else cut)
        return batches

    def _global_count(self) -> int | None:
        """The number of global batches of any epoch when it follows from the sizes alone
        (no plan needed), else None."""
        return None

    # -- shared plan --------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan ``__iter__`` and ``__len__`` use."""
        self.epoch = _check_int(f"{type(self).__name__} epoch", epoch, 0, "epochs count from 0")

    def global_batches(self, epoch: int | None = None) -> list[np.ndarray]:
        """All batches of ``epoch`` (default: current) before sharding across ranks, as
        read-only int64 index arrays (``tolist()`` gives the ``list[int]`` iteration yields).

        Incomplete batches are already dropped when ``drop_last=True``. The pools are sorted
        in one vectorised call and the batches stay views of one array: at 9M indices the
        plan costs about the random permutation itself, not one Python list per batch."""
        epoch = self.epoch if epoch is None else epoch
        n = self.lengths.size
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        full, rest = _sorted_pools(order, self._keys, self._pool_size() if self.shuffle else n)
        batches = self._cut_pools(full, rest)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def plan_ahead(self, epoch: int) -> None:
        """Start computing ``epoch``'s plan on a background thread; iterating that epoch (or
        ``batches()``, ``len``) waits for it instead of computing it again.

        The plan is numpy work that mostly releases the GIL (the permutation, the sorts, the
        gathers): ~1.4 s at 9M indices on a 2-core CPU, which training overlaps with building
        the model and AdamW (whose construction imports ``torch._dynamo``, ~2 s of Python).
        The result is the plan ``global_batches(epoch)`` gives; an error is raised where the
        plan is used."""
        epoch = _check_int(f"{type(self).__name__} epoch", epoch, 0, "epochs count from 0")
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["batches"] = self.global_batches(epoch)
            except Exception as exc:  # re-raised where the plan is used (_planned)
                box["error"] = exc

        thread = threading.Thread(target=work, name="padless-batch-plan", daemon=True)
        thread.start()
        self._ahead = (epoch, thread, box)

    def _planned(self) -> list[np.ndarray]:
        """The current epoch's global batches: ``plan_ahead``'s when it planned this epoch."""
        if self._ahead is None or self._ahead[0] != self.epoch:
            return self.global_batches()
        _, thread, box = self._ahead
        self._ahead = None
        thread.join()
        if "error" in box:
            raise box["error"]
        batches: list[np.ndarray] = box["batches"]
        return batches

    def _rank_count(self, total: int) -> int:
        """How many of ``total`` global batches this rank gets (the remainder policy)."""
        w = self.world_size
        if total % w == 0:
            return total // w
        return total // w if self.drop_last else total // w + 1

    def _rank_batches(self) -> list[np.ndarray]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        batches = self._planned()
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

    def batches(self) -> list[np.ndarray]:
        """This rank's batches of the current epoch as read-only index arrays: what iterating
        yields, without converting every batch to a list up front (the training loop)."""
        return list(self._rank_batches())

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._rank_batches():
            yield batch.tolist()

    def __len__(self) -> int:
        cached = self._cache is not None and self._cache[0] == self.epoch
        total = None if cached else self._global_count()
        if total is None:
            return len(self._rank_batches())
        return self._rank_count(total)


def _chunks(sorted_idx: np.ndarray, size: int, drop_last: bool) -> list[np.ndarray]:
    """Consecutive batches of ``size`` (views); the shorter last one unless ``drop_last``."""
    whole = sorted_idx.size // size * size
    batches = list(sorted_idx[:whole].reshape(-1, size))
    if sorted_idx.size > whole and not drop_last:
        batches.append(sorted_idx[whole:])
    return batches


def _sorted_pools(order: np.ndarray, keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``order`` cut into pools of ``size`` indices, each sorted by ascending ``keys`` (stable:
    ties keep their order in ``order``). Returns (full pools, one per row; the shorter last
    pool, possibly empty), read-only. One 2-D argsort sorts every full pool: the same result
    as sorting pool by pool, without a Python loop over pools."""
    n = order.size
    k = n // size
    full = order[: k * size].reshape(k, size)
    rank = np.argsort(keys[full], axis=1, kind="stable")
    full = np.take_along_axis(full, rank, axis=1)
    rest = order[k * size :]
    rest = rest[np.argsort(keys[rest], kind="stable")]
    full.flags.writeable = rest.flags.writeable = False
    return full, rest


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

    def _cut_pools(self, full: np.ndarray, rest: np.ndarray) -> list[np.ndarray]:
        bs, drop = self.batch_size, self.drop_last
        if full.shape[1] % bs == 0:  # shuffled: each full pool is whole batches, cut at once
            return [*_chunks(full.reshape(-1), bs, drop), *_chunks(rest, bs, drop)]
        return [b for pool in [*full, rest] for b in _chunks(pool, bs, drop)]

    def _global_count(self) -> int:
        """Pools of ``batch_size * bucket_size_multiplier`` indices hold whole batches; only
        the last (or the one unshuffled) pool ends in an incomplete batch."""
        n, bs = self.lengths.size, self.batch_size

        def count(m: int) -> int:
            return m // bs if self.drop_last else -(-m // bs)

        if not self.shuffle:
            return count(n)
        size = self._pool_size()
        return n // size * self.bucket_size_multiplier + count(n % size)


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
