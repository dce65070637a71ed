"""Training throughput with 1 and 2 processes (torchrun, DistributedDataParallel), one run.

    .venv/bin/python benchmarks/ddp_scaling.py                  # configs/sum-mod.toml, 2 epochs
    .venv/bin/python benchmarks/ddp_scaling.py --epochs 1 --quick

Runs ``padless train CONFIG`` for ``--epochs`` epochs (no curriculum, so every epoch runs the
same mix of lengths) as: one process with the default torch threads, one process with one
thread, and ``torchrun --nproc_per_node 2`` (torchrun gives each process one thread). The
global batch is the same in every row: the 2-process run takes ``batch_size / 2`` per rank.
Reports training tokens per second (real tokens, summed over ranks; from ``metrics.jsonl``,
excluding validation) per epoch, the median over epochs, and the ratio to the first row. On a
2-core machine the two processes share the cores with each other: expect contention, not 2x.
Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def run(name: str, args, out: Path, nproc: int, threads: int | None) -> dict:
    env = {**os.environ, "CI": "1"}
    sets = [f"train.epochs={args.epochs}", "train.sortagrad_epochs=0", "train.early_stopping=0"]
    sets.append(f"train.batch_size={args.batch_size // nproc}")
    if threads:
        sets.append(f"train.num_threads={threads}")
    if args.quick:
        sets += ["data.train_size=8000"]
    if args.device:
        sets.append(f"train.device={args.device}")
    cmd = [sys.executable, "-m", "padless", "train", args.config, "--out", str(out / name)]
    cmd += ["--overwrite"]  # a rerun replaces the previous run of this row
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += [f"--nproc_per_node={nproc}", "-m", "padless", "train", args.config]
        cmd += ["--out", str(out / name), "--overwrite"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    history = [json.loads(x) for x in (out / name / "metrics.jsonl").read_text().splitlines()]
    rates = [h["tokens_per_s"] for h in history]
    metrics = json.loads((out / name / "metrics.json").read_text())
    return {
        "name": name,
        "processes": nproc,
        "threads_per_process": threads or (1 if nproc > 1 else torch.get_num_threads()),
        "tokens_per_s": rates,
        "median_tokens_per_s": float(np.median(rates)),
        "wall_s": wall,
        "world_size": metrics["world_size"],
        "test_accuracy": metrics["test"].get("accuracy"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "sum-mod.toml"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="global batch (per step)")
    ap.add_argument("--out", default="/tmp/padless-ddp-scaling")
    ap.add_argument("--quick", action="store_true", help="8,000 training sequences")
    ap.add_argument("--device", help="train.device for every row (default: the config's)")
    ap.add_argument("--threads", type=int, help="torch threads of the first row (default: all)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "ddp_scaling.json"))
    args = ap.parse_args()
    out = Path(args.out)
    rows = [
        run("1 process", args, out, 1, args.threads),
        run("1 process, 1 thread", args, out, 1, 1),
        run("2 processes (torchrun)", args, out, 2, None),
    ]
    base = rows[0]["median_tokens_per_s"]
    print(f"\n{'run':26s} {'threads':>7s} {'tokens/s':>10s} {'x':>6s} {'wall s':>7s}")
    for r in rows:
        r["speedup"] = r["median_tokens_per_s"] / base
        print(
            f"{r['name']:26s} {r['threads_per_process']:7d} {r['median_tokens_per_s']:10,.0f} "
            f"{r['speedup']:6.2f} {r['wall_s']:7.1f}"
        )
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
        "date": time.strftime("%Y-%m-%d"),
        "args": vars(args),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print("wrote", args.json)


if __name__ == "__main__":
    main()
