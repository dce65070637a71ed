"""Padding waste: how many computed time steps are padding, for a batching or a whole dataset.

:func:`padding_totals` / :func:`padding_waste` measure it for given batches (each padded to
its own longest sequence). The rest is the ``padless lengths DATA`` report:

Given one length per sequence (token or time-step count), :func:`analyze_lengths` reports
summary statistics, the share of computed time steps that would be padding under each
batching strategy, and what truncating at a few caps would cost. :func:`format_report` renders
it as plain text and :func:`plot_histogram` draws the length distribution to a PNG.

Strategies compared (lengths are first truncated to ``cap`` when one is given):

* ``fixed``: every sequence padded to the cap (to the global max if no cap), as a classic
  fixed-shape pipeline does;
* ``random``: shuffled batches of ``batch_size``, each padded to its own longest sequence;
* ``bucket``: :class:`~padless.batching.BucketBatchSampler` (shuffled pools sorted by length);
* ``sorted``: the whole dataset sorted by length (``shuffle=False``), the lower bound for
  fixed-size batches;
* ``token_budget``: :class:`~padless.batching.TokenBudgetSampler` with ``max_tokens`` padded
  steps per batch.

Everything is numpy on the lengths alone; 25,000 lengths take well under a second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from padless.batching.batch import as_array, check_pad_multiple
from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.errors import config_error, data_error

logger = logging.getLogger(__name__)

__all__ = [
    "padding_totals",
    "padding_waste",
    "LengthReport",
    "StrategyResult",
    "TruncationResult",
    "analyze_lengths",
    "format_report",
    "plot_histogram",
]


def padding_totals(
    lengths: Sequence[int] | np.ndarray | Tensor,
    batches: Iterable[Sequence[int]],
    *,
    pad_to_multiple_of: int | None = None,
) -> tuple[int, int]:
    """Return ``(real_steps, computed_steps)`` when each batch pads to its own longest length
    (rounded up to ``pad_to_multiple_of``). Empty batches are ignored."""
    check_pad_multiple(pad_to_multiple_of)
    lens = as_array(lengths).astype(np.int64, copy=False).reshape(-1)
    parts = [np.asarray(b, dtype=np.int64).reshape(-1) for b in batches]
    parts = [p for p in parts if p.size]
    if not parts:
        return 0, 0
    sizes = np.array([p.size for p in parts], dtype=np.int64)
    flat = lens[np.concatenate(parts)]
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    maxes = np.maximum.reduceat(flat, offsets)
    if pad_to_multiple_of:
        maxes = -(-maxes // pad_to_multiple_of) * pad_to_multiple_of
    return int(flat.sum()), int((sizes * maxes).sum())


def padding_waste(
    lengths: Sequence[int] | np.ndarray | Tensor,
    batches: Iterable[Sequence[int]],
    *,
    pad_to_multiple_of: int | None = None,
) -> float:
    """Share (0..1) of computed time steps that are padding, each batch padded to its own max."""
    real, computed = padding_totals(lengths, batches, pad_to_multiple_of=pad_to_multiple_of)
    return 0.0 if computed == 0 else 1.0 - real / computed


STRATEGIES = ("fixed", "random", "bucket", "sorted", "token_budget")


@dataclass(frozen=True)
class StrategyResult:
    """Padding cost of one batching strategy."""

    name: str
    waste: float  # share of computed time steps that are padding, 0..1
    num_batches: int
    computed_steps: int  # time steps computed including padding
    real_steps: int  # time steps of real data (after the cap)


@dataclass(frozen=True)
class TruncationResult:
    """What truncating every sequence to ``cap`` steps would cost."""

    cap: int
    share_truncated: float  # share of sequences longer than cap
    share_tokens_lost: float  # share of all real time steps beyond the cap


@dataclass(frozen=True)
class LengthReport:
    """Result of :func:`analyze_lengths`; summary statistics are of the raw (uncapped) lengths."""

    n: int
    min: int
    mean: float
    median: float
    p90: float
    p99: float
    max: int
    batch_size: int
    max_tokens: int
    cap: int | None
    seed: int
    strategies: list[StrategyResult] = field(default_factory=list)
    truncation: list[TruncationResult] = field(default_factory=list)

    def strategy(self, name: str) -> StrategyResult:
        """The result for strategy ``name`` (one of ``fixed, random, bucket, sorted,
        token_budget``)."""
        for result in self.strategies:
            if result.name == name:
                return result
        raise KeyError(f"no strategy {name!r}; known: {', '.join(STRATEGIES)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (lists of dicts for strategies and truncation)."""
        return asdict(self)


def _validate(lengths: Any) -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.size == 0:
        raise data_error(
            "lengths",
            "a non-empty 1-D array with one length per sequence",
            f"shape {arr.shape}",
            "check that the data file has rows with text or values",
        )
    if arr.dtype.kind not in "iu":
        raise data_error(
            "lengths", "integer lengths", f"dtype {arr.dtype}", "cast lengths to int64"
        )
    if (arr < 0).any():
        bad = int(np.flatnonzero(arr < 0)[0])
        raise data_error(f"lengths[{bad}]", "a non-negative length", str(int(arr[bad])), None)
    return arr.astype(np.int64)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise config_error(name, "an integer >= 1", repr(value), f"pass a positive {name}")
    return int(value)


def _result(name: str, lengths: np.ndarray, batches: list[Any]) -> StrategyResult:
    real, computed = padding_totals(lengths, batches)
    waste = 0.0 if computed == 0 else 1.0 - real / computed
    return StrategyResult(name, waste, len(batches), computed, real)


def analyze_lengths(
    lengths: np.ndarray,
    *,
    batch_size: int = 64,
    max_tokens: int | None = None,
    caps: tuple[int, ...] | list[int] = (128, 256, 512, 1024),
    cap: int | None = 512,
    seed: int = 0,
) -> LengthReport:
    """Analyse padding waste and truncation loss for ``lengths`` (one int per sequence).

    ``cap`` truncates lengths before batching (None: no truncation). ``max_tokens`` is the
    budget of the ``token_budget`` strategy; by default ``batch_size * median`` of the capped
    lengths, raised to the longest capped length so every sequence fits. ``caps`` lists the
    truncation caps to report. Random strategies use ``seed`` (epoch 0).
    """
    raw = _validate(lengths)
    batch_size = _positive("batch_size", batch_size)
    if cap is not None:
        cap = _positive("cap", cap)
    caps = [_positive("caps entry", c) for c in caps]
    capped = raw if cap is None else np.minimum(raw, cap)
    n = raw.size

    if max_tokens is None:
        median = int(round(float(np.median(capped))))
        max_tokens = max(batch_size * max(median, 1), int(capped.max()), 1)
    else:
        max_tokens = _positive("max_tokens", max_tokens)

    fixed_len = cap if cap is not None else int(raw.max())
    strategies = _strategies(capped, fixed_len, batch_size, max_tokens, seed)
    truncation = _truncation(raw, caps)
    p50, p90, p99 = np.percentile(raw, [50, 90, 99])
    report = LengthReport(
        n=int(n),
        min=int(raw.min()),
        mean=float(raw.mean()),
        median=float(p50),
        p90=float(p90),
        p99=float(p99),
        max=int(raw.max()),
        batch_size=batch_size,
        max_tokens=int(max_tokens),
        cap=cap,
        seed=int(seed),
        strategies=strategies,
        truncation=truncation,
    )
    logger.debug("length analysis of %d sequences done", n)
    return report


def _strategies(
    capped: np.ndarray, fixed_len: int, batch_size: int, max_tokens: int, seed: int
) -> list[StrategyResult]:
    """The padding cost of every strategy of :data:`STRATEGIES` on the capped lengths."""
    n = capped.size
    real = int(capped.sum())
    computed = n * fixed_len
    strategies = [
        StrategyResult(
            "fixed",
            0.0 if computed == 0 else 1.0 - real / computed,
            -(-n // batch_size),
            computed,
            real,
        )
    ]
    perm = np.random.default_rng(seed).permutation(n)
    strategies.append(
        _result("random", capped, [perm[i : i + batch_size] for i in range(0, n, batch_size)])
    )
    strategies.append(
        _result("bucket", capped, list(BucketBatchSampler(capped, batch_size, seed=seed)))
    )
    strategies.append(
        _result(
            "sorted",
            capped,
            list(BucketBatchSampler(capped, batch_size, shuffle=False, seed=seed)),
        )
    )
    strategies.append(
        _result("token_budget", capped, list(TokenBudgetSampler(capped, max_tokens, seed=seed)))
    )
    return strategies


def _truncation(raw: np.ndarray, caps: list[int]) -> list[TruncationResult]:
    """What truncating the raw lengths at each of ``caps`` would cut."""
    total = int(raw.sum())
    truncation = []
    for c in caps:
        lost = int(np.maximum(raw - c, 0).sum())
        truncation.append(
            TruncationResult(
                cap=c,
                share_truncated=float((raw > c).mean()),
                share_tokens_lost=0.0 if total == 0 else lost / total,
            )
        )
    return truncation


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def format_report(report: LengthReport) -> str:
    """Render ``report`` as a plain-text table (no trailing newline)."""
    cap = "none" if report.cap is None else str(report.cap)
    lines = [
        f"Sequence lengths: {report.n:,} sequences",
        f"  min {report.min:,}   mean {report.mean:,.1f}   median {report.median:,.0f}   "
        f"p90 {report.p90:,.0f}   p99 {report.p99:,.0f}   max {report.max:,}",
        "",
        f"Padding waste (truncation cap {cap}, batch_size {report.batch_size}, "
        f"token budget {report.max_tokens:,} steps)",
        f"  {'strategy':<14}{'waste':>8}{'batches':>10}{'computed steps':>17}{'vs sorted':>11}",
    ]
    sorted_steps = report.strategy("sorted").computed_steps
    for s in report.strategies:
        ratio = "-" if sorted_steps == 0 else f"{s.computed_steps / sorted_steps:.2f}x"
        lines.append(
            f"  {s.name:<14}{_pct(s.waste):>8}{s.num_batches:>10,}{s.computed_steps:>17,}"
            f"{ratio:>11}"
        )
    if report.truncation:
        lines += [
            "",
            "Truncation (share of the raw lengths)",
            f"  {'cap':>6}{'sequences cut':>15}{'tokens lost':>13}",
        ]
        for t in report.truncation:
            lines.append(
                f"  {t.cap:>6,}{_pct(t.share_truncated):>15}{_pct(t.share_tokens_lost):>13}"
            )
    return "\n".join(lines)


def plot_histogram(
    lengths: np.ndarray, path: str | Path, cap: int | None = None, *, bins: int = 60
) -> Path:
    """Write a PNG histogram of ``lengths`` to ``path``, marking median, p90, p99 and ``cap``.

    Uses matplotlib's Agg backend without touching pyplot's global state. Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arr = _validate(lengths)
    path = Path(path)
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    hi = max(int(arr.max()), 1)
    edges = np.linspace(0, hi + 1, min(bins, hi + 1) + 1)
    ax.hist(arr, bins=edges.tolist(), color="#4c72b0", alpha=0.85)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    marks = [
        (p50, f"median {p50:,.0f}", "#2ca02c", "-"),
        (p90, f"p90 {p90:,.0f}", "#ff7f0e", "--"),
        (p99, f"p99 {p99:,.0f}", "#d62728", ":"),
    ]
    if cap is not None:
        cut = float((arr > cap).mean())
        marks.append((cap, f"cap {cap:,} ({100 * cut:.1f}% cut)", "black", "-."))
    for x, label, color, style in marks:
        ax.axvline(x, color=color, linestyle=style, linewidth=1.5, label=label)
    ax.set_xlabel("sequence length (steps)")
    ax.set_ylabel("sequences")
    ax.set_title(f"Length distribution of {arr.size:,} sequences")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    logger.info("wrote length histogram to %s", path)
    return path
