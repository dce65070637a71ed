"""Seeded synthetic tasks: sequence data generated on the spot, for tests and benchmarks.

Each task is a deterministic function of ``seed`` (same seed, same data) returning a
:class:`~padless.data.dataset.SequenceDataset` with lengths uniform in
``[min_length, max_length]``:

* :func:`sum_mod`: classify a digit sequence by the sum of its digits modulo ``k`` (int64 token
  ids of shape (T_i,), 0 is padding);
* :func:`running_sum_mod`: the same digits, tagged at every step with the running sum modulo
  ``k`` (per-step tagging; a unidirectional model can solve it exactly);
* :func:`adding_problem`: float32 (T_i, 2) value / marker pairs, regression on the sum of the
  two marked values.

:func:`make_splits` builds train / valid / test sets in one dataset, each split from its own
seed (:func:`split_seed`), so the train set does not change with the other splits' sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from padless.data.dataset import SequenceDataset
from padless.errors import data_error

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- synthetic tasks
def _check_args(where: str, n: int, min_length: int, max_length: int, lowest: int) -> None:
    if int(n) < 0:
        raise data_error(f"{where}(n=...)", "n >= 0", repr(n), "pass a non-negative count")
    if not lowest <= min_length <= max_length:
        got = f"min_length={min_length}, max_length={max_length}"
        expected = f"{lowest} <= min_length <= max_length"
        raise data_error(f"{where}(...)", expected, got, "fix the length range")


def _dataset(
    seqs: list[np.ndarray], labels: list[Any], split: str | None, names: list[str], source: str
) -> SequenceDataset:
    ids = [f"{split}-{i}" if split else str(i) for i in range(len(seqs))]
    return SequenceDataset(seqs, labels, [split] * len(seqs), ids, names, source)


def sum_mod(
    n: int,
    *,
    k: int = 10,
    min_length: int = 1,
    max_length: int = 100,
    vocab: int = 10,
    seed: int = 0,
    split: str | None = None,
) -> SequenceDataset:
    """``n`` digit sequences, each labelled with (sum of its digits) mod ``k`` (labels ``"0"``..).

    Unlike the float (T, F) convention, ``sequences[i]`` is int64 of shape (T_i,) with digit ``d``
    stored as token id ``d + 1`` (0 is padding, embedding size ``vocab + 1``). Lengths are uniform
    in ``[min_length, max_length]``; ``split`` fills ``splits`` and prefixes ``ids``.
    """
    seqs, source = _digits("sum_mod", n, k, min_length, max_length, vocab, seed)
    labels = [str(int(d.sum()) % k) for d in seqs]
    return _dataset([d + 1 for d in seqs], labels, split, ["token"], source)


def _digits(
    name: str, n: int, k: int, min_length: int, max_length: int, vocab: int, seed: int
) -> tuple[list[np.ndarray], str]:
    """Seeded digit sequences (values 0..vocab-1, lengths uniform in the range) and a source."""
    _check_args(name, n, min_length, max_length, 1)
    if k < 1 or vocab < 1:
        where, got = f"{name}(k=..., vocab=...)", f"k={k}, vocab={vocab}"
        raise data_error(where, "k >= 1 and vocab >= 1", got, "pass positive values")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    digits = rng.integers(0, vocab, size=int(lengths.sum()), dtype=np.int64)
    seqs = np.split(digits, np.cumsum(lengths)[:-1]) if n else []
    source = f"{name}(n={n}, k={k}, length={min_length}..{max_length}, vocab={vocab}, seed={seed})"
    return seqs, source


def adding_problem(
    n: int,
    *,
    min_length: int = 10,
    max_length: int = 100,
    seed: int = 0,
    split: str | None = None,
) -> SequenceDataset:
    """The adding problem (Hochreiter & Schmidhuber 1997), a **regression** task.

    Each sequence is float32 (T, 2): ``value`` uniform in [0, 1) and ``marker``, 1 at exactly two
    steps (one in ``[0, T//2)``, one in ``[T//2, T)``). ``labels[i]`` is a float: the sum of the two
    marked values (in float64 from the stored float32 values).
    """
    _check_args("adding_problem", n, min_length, max_length, 2)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    values = rng.random(int(lengths.sum()), dtype=np.float32)
    half = lengths // 2
    first = rng.integers(0, half) if n else half
    second = rng.integers(half, lengths) if n else half
    seqs, targets = [], []
    pieces = np.split(values, np.cumsum(lengths)[:-1]) if n else []
    for v, a, b in zip(pieces, first, second, strict=True):
        x = np.stack([v, np.zeros_like(v)], axis=1)
        x[[a, b], 1] = 1.0
        seqs.append(x)
        targets.append(float(np.float64(v[a]) + np.float64(v[b])))
    source = f"adding_problem(n={n}, length={min_length}..{max_length}, seed={seed})"
    return _dataset(seqs, targets, split, ["value", "marker"], source)


def running_sum_mod(
    n: int,
    *,
    k: int = 10,
    min_length: int = 1,
    max_length: int = 100,
    vocab: int = 10,
    seed: int = 0,
    split: str | None = None,
) -> SequenceDataset:
    """A per-step **tagging** task: digit sequences as in :func:`sum_mod`, and at every step the
    tag (sum of the digits so far) mod ``k``; ``labels[i]`` is a list of ``T_i`` tag strings.

    A unidirectional model can solve it exactly, so it also exercises streaming prediction.
    """
    seqs, source = _digits("running_sum_mod", n, k, min_length, max_length, vocab, seed)
    tags = [[str(int(t)) for t in np.cumsum(d) % k] for d in seqs]
    return _dataset([d + 1 for d in seqs], tags, split, ["token"], source)


SYNTHETIC_TASKS = {
    "sum_mod": sum_mod,
    "adding_problem": adding_problem,
    "running_sum_mod": running_sum_mod,
}


_SPLIT_STREAMS = {"train": 0, "valid": 1, "test": 2}


def split_seed(seed: int, split: str) -> int:
    """The seed :func:`make_splits` uses for ``split``: derived from ``seed`` by
    ``numpy.random.SeedSequence``, distinct per split, and independent of the split sizes."""
    sequence = np.random.SeedSequence(seed, spawn_key=(_SPLIT_STREAMS[split],))
    return int(sequence.generate_state(1, np.uint64)[0])


def make_splits(
    task: str | Callable[..., SequenceDataset],
    n_train: int,
    n_valid: int = 0,
    n_test: int = 0,
    *,
    seed: int = 0,
    **kwargs: Any,
) -> SequenceDataset:
    """Train / valid / test sets of a synthetic ``task`` (a :data:`SYNTHETIC_TASKS` name or a
    function ``f(n, seed=, split=, **kwargs)``) in one dataset; each split uses
    :func:`split_seed`, so the train set does not change with ``n_valid`` / ``n_test``."""
    if isinstance(task, str) and task not in SYNTHETIC_TASKS:
        expected, fix = f"one of {sorted(SYNTHETIC_TASKS)}", "pass a known name or a function"
        raise data_error("make_splits(task=...)", expected, repr(task), fix)
    fn = SYNTHETIC_TASKS[task] if isinstance(task, str) else task
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    parts = [fn(n, seed=split_seed(seed, s), split=s, **kwargs) for s, n in sizes.items() if n > 0]
    name = getattr(fn, "__name__", str(fn))
    source = f"make_splits({name}, train={n_train}, valid={n_valid}, test={n_test}, seed={seed})"
    return SequenceDataset(
        [x for p in parts for x in p.sequences],
        [y for p in parts for y in p.labels],
        [s for p in parts for s in p.splits],
        [i for p in parts for i in p.ids],
        list(parts[0].feature_names) if parts else [],
        source,
    )
