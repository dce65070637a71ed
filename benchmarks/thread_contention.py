"""Training steps with the default thread count against one thread, quiet and with a busy neighbour.

    .venv/bin/python benchmarks/thread_contention.py [--steps 100] [--rounds 3]

Issue 18 asks that with one busy neighbour process the default thread count is never slower
than one thread. "default" is what ``padless train`` does: padless's own count
(``choose_threads``), tuned while training by ``ThreadTuner`` (a probe of 16 steps per count,
interleaved; one thread kept only when >= 1.15x as fast; then 400 steps held). The first probe
is inside the timed steps, so over ``--steps`` 100 it weighs far more than in a real run. Each cell runs in a fresh process
(``torch.set_num_threads`` before any work): ``--steps`` training steps (after 3 untimed) of
padless's drop-in BiLSTM
(``padless.nn.LSTM``, input 64, hidden 128, called with ``lengths=``, the fused kernel) ->
masked mean -> Linear -> BCE -> backward -> AdamW, on fixed batches of 64 sequences with
log-normal lengths (median ~100, seeded). "neighbour" = one other process spinning a CPU
(``while True: pass``) for the whole cell. Rounds alternate the cells' order; the table gives
the median tokens/s of each cell and the ratio default / 1 thread for each condition. Writes
``benchmarks/results/thread_contention.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(threads: int | None, steps: int) -> float:
    """Real tokens / second of ``steps`` training steps in this process."""
    import torch

    import padless.nn as pnn
    from padless.train.threads import ThreadTuner, choose_threads

    n = threads or choose_threads(None, 1, torch.get_num_threads())
    torch.set_num_threads(int(n or torch.get_num_threads()))
    # the default is what a training run does: padless's own count, tuned by measured speed
    tuner = ThreadTuner(int(n)) if threads is None and n and n > 1 else None
    torch.set_flush_denormal(True)
    g = torch.Generator().manual_seed(0)
    lstm = pnn.LSTM(64, 128, batch_first=True, bidirectional=True)
    head = torch.nn.Linear(256, 1)
    opt = torch.optim.AdamW([*lstm.parameters(), *head.parameters()], lr=1e-3)
    batches = []
    for _ in range(8):
        lengths = torch.clamp(torch.exp(torch.randn(64, generator=g) * 0.5 + 4.6), 2, 400).long()
        lengths, _ = torch.sort(lengths, descending=True)
        x = torch.randn(64, int(lengths[0]), 64, generator=g)
        batches.append((x, lengths, torch.randint(0, 2, (64, 1), generator=g).float()))

    def step(k: int) -> int:
        x, lengths, y = batches[k % len(batches)]
        out, _ = lstm(x, lengths=lengths)
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        pooled = (out * mask).sum(1) / lengths[:, None]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return int(lengths.sum())

    for k in range(3):
        step(k)
    tokens, t0 = 0, time.perf_counter()
    for k in range(steps):
        if tuner is not None:
            tuner.start()
        done = step(k)
        if tuner is not None:
            tuner.stop(done)
        tokens += done
    return tokens / (time.perf_counter() - t0)


def _cell(threads: str, neighbour: bool, steps: int) -> float:
    spinner = None
    if neighbour:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    try:
        cmd = [sys.executable, __file__, "--child", threads, "--steps", str(steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/thread_contention.json"))
    args = p.parse_args(argv)
    if args.child is not None:
        print(child(None if args.child == "default" else int(args.child), args.steps))
        return
    cells = [(t, n) for n in (False, True) for t in ("default", "1")]
    rates: dict[str, list[float]] = {f"{t} {'busy' if n else 'quiet'}": [] for t, n in cells}
    for r in range(args.rounds):
        for t, n in cells if r % 2 == 0 else cells[::-1]:
            rates[f"{t} {'busy' if n else 'quiet'}"].append(_cell(t, n, args.steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{'threads':<8} {'neighbour':<10} {'tokens/s':>10}   rounds")
    for key, value in med.items():
        t, n = key.split()
        print(f"{t:<8} {n:<10} {value:>10,.0f}   {[round(x) for x in rates[key]]}")
    ratios = {n: med[f"default {n}"] / med[f"1 {n}"] for n in ("quiet", "busy")}
    print("default / 1 thread: " + ", ".join(f"{n} {v:.2f}" for n, v in ratios.items()))
    result = {
        "cores": len(os.sched_getaffinity(0)),
        "steps": args.steps,
        "tokens_per_s": rates,
        "median": med,
        "default_over_one": ratios,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
