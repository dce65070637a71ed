"""Your own data at scale: the encoded store against today's in-memory path, side by side.

    .venv/bin/python benchmarks/data_scale.py                     # 0.1M, 1M, 10M rows (~40 min)
    .venv/bin/python benchmarks/data_scale.py --sizes 100000 --memory-max 100000   # smoke run

Writes benchmarks/results/data_scale.json (``--out``) and prints one table.

Data: synthetic text tables (CSV, ``text,label``, no split column: every row is train and
``data.valid_fraction`` of it is held out), ``--sizes`` rows each, lengths log-normal with a
median of ~20 words (sigma 0.7, capped at 400), words drawn Zipf-like from a 30,000-word
vocabulary plus punctuation, the label a noisy function of two small word sets. Files are
generated once into ``--workdir`` (reused by later runs with the same size and seed).

Each (table, path) runs in a fresh ``padless`` process (``--child``), which reports:

* ``prepare_s``: the data stage (read, clean, tokenize, fit the vocabulary, encode; for the
  store also writing and verifying it), ``tokens`` (encoded tokens, all splits) and
  ``encode_tok_s`` = tokens / prepare_s;
* ``peak_rss_mb`` (ru_maxrss at the end of the data stage), ``rss_base_mb`` (after imports,
  before it) and ``bytes_per_token`` = (peak - base) / tokens; ``worker_rss_mb``: the peak of
  the largest tokenizer worker process (one per core while a large table is encoded; 0 when
  none ran), which the main process's figure does not include;
* ``first_batch_s``: wall time from the parent starting the process to the first training
  batch being ready (interpreter start, imports, data stage, model and optimizer build, the
  epoch's batch plan, first collation), taking the batches as the training loop does
  (``sampler.batches()``, index arrays); ``first_step_s``: the same to the end of the first
  optimizer step (its forward, backward and AdamW step);
* ``train_tok_s``: real tokens / second over ``--steps`` training steps (after 5 untimed ones)
  of a small BiLSTM (embedding 64, hidden 128), the same batches on every path.

Also a numeric long table (``--long`` sequences, default 1M; ``id,t,a,b,c,label``, one row per
step, log-normal lengths with a median of 20 steps), "rows" counting sequences.

Paths: ``memory`` (``data.cache = false``: today's path), ``store-cold`` (an empty cache:
builds the store) and ``store-warm`` (the same cache again: the second run). ``memory`` runs
only up to ``--memory-max`` rows (default 1M: at 10M rows it would need ~14 GB).
Targets (issue 17): peak RSS at 10M rows <= 2 GB; encoding >= 1.5M tokens/s; a second run's
first batch <= 5 s; store training tokens/s within 5% of in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- data
def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = {"".join(rng.choice(letters, size=int(rng.integers(2, 9)))) for _ in range(size * 2)}
    return np.array(sorted(words)[:size] + [".", ",", "!", "?", "'s"], dtype=object)


def make_text_table(path: Path, rows: int, seed: int = 0, chunk: int = 200_000) -> None:
    """Write the synthetic table (module docstring) to ``path``, a chunk of rows at a time."""
    rng = np.random.default_rng(seed)
    words = _vocabulary(rng, 30_000)
    p = 1.0 / (np.arange(len(words)) + 2.7)
    p /= p.sum()
    good, bad = set(range(100, 140)), set(range(140, 180))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("text,label\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            lengths = np.clip(rng.lognormal(np.log(20), 0.7, n).astype(int), 1, 400)
            ids = rng.choice(len(words), size=int(lengths.sum()), p=p)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            out = []
            for i in range(n):
                row = ids[offsets[i] : offsets[i + 1]]
                score = sum(1 for w in row if w in good) - sum(1 for w in row if w in bad)
                label = "pos" if score + rng.normal(0, 0.5) > 0 else "neg"
                text = " ".join(words[row])
                out.append(f'"{text}",{label}\n' if "," in text else f"{text},{label}\n")
            f.write("".join(out))
    tmp.rename(path)


def make_long_table(path: Path, sequences: int, seed: int = 0, chunk: int = 100_000) -> None:
    """A numeric long table: ``id,t,a,b,c,label`` rows, one per step, ``sequences`` sequences
    of log-normal length (median 20, capped at 400) in file order, 3 float features, the label
    (``up`` / ``down``) the sign of the sequence's drift in ``a``."""
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("id,t,a,b,c,label\n")
        for start in range(0, sequences, chunk):
            n = min(chunk, sequences - start)
            lengths = np.clip(rng.lognormal(np.log(20), 0.7, n).astype(int), 1, 400)
            drift = rng.normal(0, 0.2, n)
            seq = np.repeat(np.arange(start, start + n), lengths)
            step = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            x = rng.normal(0, 1, (len(seq), 3)) + np.repeat(drift, lengths)[:, None] * step[:, None]
            labels = np.where(drift > 0, "up", "down")[seq - start]
            out = [
                f"s{i},{t},{a:.4f},{b:.4f},{c:.4f},{lab}\n"
                for i, t, (a, b, c), lab in zip(
                    seq.tolist(), step.tolist(), x.tolist(), labels, strict=True
                )
            ]
            f.write("".join(out))
    tmp.rename(path)


# ----------------------------------------------------------------------------- child
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(table: str, mode: str, cache: str, out: str, steps: int, started: float) -> dict:
    """One path on one table, in this process (see the module docstring); a table whose name
    starts with ``long`` is a numeric long table."""
    import torch

    from padless.config import load_config
    from padless.encode import prepared
    from padless.train import run as run_mod
    from padless.train.distributed import World
    from padless.train.loop import _batch, _step

    source = (
        ["data.source=long_table", "data.id_column=id", "data.step_column=t"]
        if Path(table).name.startswith("long")
        else ["data.source=table"]
    )
    sets = [
        *source,
        f"data.path={table}",
        f"data.cache={'false' if mode == 'memory' else 'true'}",
        f"data.cache_dir={cache}",
        "model.embedding_dim=64",
        "model.hidden_size=128",
        "train.batch_size=64",
        "train.epochs=1",
        "train.memory_check=false",
    ]
    cfg = load_config(None, sets)
    base = _rss_mb()
    timing: dict = {}

    def timed_prepare(c):
        t0 = time.perf_counter()
        data = prepared.prepare(c)
        timing["prepare_s"] = time.perf_counter() - t0
        timing["peak_rss_mb"] = _rss_mb()
        # the largest tokenizer worker (padless.encode.tokenizer_pool), if any ran
        timing["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        timing["tokens"] = int(sum(int(s.lengths().sum()) for s in data.splits.values()))
        return data

    run_mod.prepare = timed_prepare
    run = run_mod.build_run(cfg, Path(out), True, World())
    run.model.train()
    run.sampler.set_epoch(0)
    batches = run.sampler.batches()[: steps + 5]  # as padless.train.loop takes them
    batch, labels = _batch(run, batches[0])
    first_batch = time.time() - started
    _step(run, batch, labels, (0, 0), True, True)
    first_step = time.time() - started
    for k, idx in enumerate(batches[1:5], start=1):
        _step(run, *_batch(run, idx), (0, k), True, True)
    tokens, t0 = 0, time.perf_counter()
    for k, idx in enumerate(batches[5:], start=5):
        batch, labels = _batch(run, idx)
        _step(run, batch, labels, (0, k), True, True)
        tokens += batch.num_tokens
    train_s = time.perf_counter() - t0
    tok = timing["tokens"]
    return {
        **timing,
        "rss_base_mb": base,
        "bytes_per_token": (timing["peak_rss_mb"] - base) * 2**20 / max(tok, 1),
        "encode_tok_s": tok / timing["prepare_s"],
        "first_batch_s": first_batch,
        "first_step_s": first_step,
        "train_tok_s": tokens / train_s,
        "train_steps": len(batches) - 5,
        "threads": torch.get_num_threads(),
    }


def _run_child(args: argparse.Namespace, table: Path, mode: str, cache: Path) -> dict:
    out = Path(args.workdir) / "runs" / f"{table.stem}-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    cmd = [
        sys.executable,
        __file__,
        "--child",
        json.dumps([str(table), mode, str(cache), str(out), args.steps, started]),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr[-3000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- parent
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="100000,1000000,10000000")
    p.add_argument("--memory-max", type=int, default=1_000_000)
    p.add_argument("--long", type=int, default=1_000_000, help="sequences (0: no long table)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--workdir", default="/tmp/padless-data-scale")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/data_scale.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        table, mode, cache, out, steps, started = json.loads(args.child)
        print(json.dumps(child(table, mode, cache, out, steps, started)))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    tables = [("text", int(s)) for s in args.sizes.split(",") if s]
    tables += [("long", args.long)] if args.long else []
    for kind, rows in tables:
        table = work / f"{kind}-{rows}.csv"
        if not table.exists():
            t0 = time.perf_counter()
            (make_text_table if kind == "text" else make_long_table)(table, rows)
            print(
                f"generated {table} ({table.stat().st_size / 1e6:.0f} MB) in "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        cache = work / f"cache-{kind}-{rows}"
        shutil.rmtree(cache, ignore_errors=True)
        modes = ["store-cold", "store-warm"]
        if rows <= args.memory_max:
            modes.insert(0, "memory")
        for mode in modes:
            r = {"table": kind, "rows": rows, "mode": mode, **_run_child(args, table, mode, cache)}
            results.append(r)
            print(_line(r), flush=True)
        shutil.rmtree(cache, ignore_errors=True)
    _report(results, args.out)


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['table']:<5}{r['rows']:>10,} {r['mode']:<11} ERROR {r['error'][-400:]}"
    return (
        f"{r['table']:<5}{r['rows']:>10,} {r['mode']:<11} {r['tokens']:>12,} "
        f"{r['prepare_s']:>9.1f} "
        f"{r['encode_tok_s'] / 1e6:>8.2f} {r['peak_rss_mb']:>8.0f} {r['worker_rss_mb']:>6.0f} "
        f"{r['bytes_per_token']:>6.1f} "
        f"{r['first_batch_s']:>7.1f} {r['first_step_s']:>7.1f} {r['train_tok_s']:>9,.0f}"
    )


def _report(results: list[dict], out: str) -> None:
    head = (
        f"{'data':<5}{'rows':>10} {'path':<11} {'tokens':>12} {'prep s':>9} {'Mtok/s':>8} "
        f"{'RSS MB':>8} {'wrk MB':>6} {'B/tok':>6} {'1st b s':>7} {'1st st':>7} {'train t/s':>9}"
    )
    print("\n" + head + "\n" + "\n".join(_line(r) for r in results))
    by = {(r["table"], r["rows"], r["mode"]): r for r in results if "error" not in r}
    for kind, rows in sorted({(r["table"], r["rows"]) for r in results}):
        mem, warm = by.get((kind, rows, "memory")), by.get((kind, rows, "store-warm"))
        if mem and warm:
            ratio = warm["train_tok_s"] / mem["train_tok_s"]
            print(f"{kind} {rows:>10,}: store-warm / memory training tokens/s {ratio:.3f}")
    meta = {"python": platform.python_version(), "cpus": os.cpu_count()}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
