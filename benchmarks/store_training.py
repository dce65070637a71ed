"""Training tokens/s from the encoded store against in memory: the same steps, interleaved.

    .venv/bin/python benchmarks/store_training.py [--table T] [--rounds 8] [--steps 40]

Issue 17's target: training tokens/s from the store within 5% of in memory. Timing the two
paths in separate processes one after the other (``benchmarks/data_scale.py``) mixes in
whatever else the machine does meanwhile (a 2-core box drifts by more than 5% between runs),
so here both train in one process, one model each, built from the same seed, on the same
bucketed batches (the in-memory run's sampler decides them), in alternating rounds of
``--steps`` steps (the first path of a round alternates too). Each path trains its own model
and optimizer through the real loop's ``_batch`` (collation from its split) and ``_step``, so
the two do the same arithmetic and differ only in where the batches are read from. The table
defaults to the 1M-row table of ``benchmarks/data_scale.py`` (generated there). Prints one
table and writes ``benchmarks/results/store_training.json``: the tokens/s of every round, the
median of each path and the ratio store / memory of the medians and of each round's pair.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(table: str, cache: str, out: Path, store: bool):
    from padless.config import load_config
    from padless.train.distributed import World
    from padless.train.run import build_run

    cfg = load_config(
        None,
        [
            "data.source=table",
            f"data.path={table}",
            f"data.cache={'true' if store else 'false'}",
            f"data.cache_dir={cache}",
            "model.embedding_dim=64",
            "model.hidden_size=128",
            "train.batch_size=64",
            "train.epochs=1",
            "train.memory_check=false",
        ],
    )
    run = build_run(cfg, out, True, World())
    run.model.train()
    return run


def _steps(run, batches, start: int) -> tuple[int, float]:
    """Train on ``batches``; (real tokens, seconds)."""
    from padless.train.loop import _batch, _step

    tokens, t0 = 0, time.perf_counter()
    for k, idx in enumerate(batches, start=start):
        batch, labels = _batch(run, idx)
        _step(run, batch, labels, (0, k), True, True)
        tokens += batch.num_tokens
    return tokens, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", default="/tmp/padless-data-scale/text-1000000.csv")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/store_training.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        runs = {
            "memory": _run(args.table, work, Path(work) / "memory", store=False),
            "store": _run(args.table, work, Path(work) / "store", store=True),
        }
        runs["memory"].sampler.set_epoch(0)
        plan = list(runs["memory"].sampler)[: 5 + args.rounds * args.steps]
        for run in runs.values():  # warm-up: allocator, kernels, first-touch of pages
            _steps(run, plan[:5], 0)
        rates: dict[str, list[float]] = {"memory": [], "store": []}
        for r in range(args.rounds):
            part = plan[5 + r * args.steps : 5 + (r + 1) * args.steps]
            order = ["memory", "store"] if r % 2 == 0 else ["store", "memory"]
            for name in order:
                tokens, seconds = _steps(runs[name], part, 5 + r * args.steps)
                rates[name].append(tokens / seconds)
    _report(args, rates)


def _report(args: argparse.Namespace, rates: dict[str, list[float]]) -> None:
    import torch

    med = {k: statistics.median(v) for k, v in rates.items()}
    pairs = [s / m for s, m in zip(rates["store"], rates["memory"], strict=True)]
    print(f"{'round':>5} {'memory tok/s':>13} {'store tok/s':>12} {'store/memory':>13}")
    for r, (m, s) in enumerate(zip(rates["memory"], rates["store"], strict=True)):
        print(f"{r:>5} {m:>13,.0f} {s:>12,.0f} {s / m:>13.3f}")
    ratio = med["store"] / med["memory"]
    print(
        f"median {med['memory']:>11,.0f} {med['store']:>12,.0f} {ratio:>13.3f}   "
        f"(median of the rounds' ratios {statistics.median(pairs):.3f}, "
        f"range {min(pairs):.3f}-{max(pairs):.3f})"
    )
    result = {
        "table": args.table,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "tokens_per_s": rates,
        "median_tokens_per_s": med,
        "ratio_of_medians": ratio,
        "round_ratios": pairs,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "torch": torch.__version__,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
