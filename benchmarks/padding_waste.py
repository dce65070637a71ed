"""Padding waste of each batching strategy on IMDB train lengths, over several seeds.

    .venv/bin/python benchmarks/padding_waste.py [--data ../shared/data/imdb/imdb.csv.gz]

Prints a table and writes benchmarks/results/padding_waste.json. Acceptance (issue 2): with
BucketBatchSampler(batch_size=64) on whitespace-token lengths capped at 512 the waste is ≤ 3%,
against ≥ 50% for random batches.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.batching.waste import padding_waste
from padless.data.imdb import imdb
from padless.encode.text import clean_text, word_tokenize

ROOT = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parents[1] / "shared/data/imdb/imdb.csv.gz"))
    ap.add_argument("--cap", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "padding_waste.json"))
    args = ap.parse_args()

    train = imdb(args.data, splits=("train",), progress=False)
    tokenizations = {
        "whitespace": [len(t.split()) for t in train.texts],
        "word (cleaned)": [len(word_tokenize(clean_text(t))) for t in train.texts],
    }
    rows = []
    for name, raw in tokenizations.items():
        lengths = np.minimum(np.asarray(raw, dtype=np.int64), args.cap)
        budget = args.batch_size * int(np.median(lengths))
        for strategy in ("random", "bucket", "token_budget"):
            wastes, start = [], time.perf_counter()
            for seed in range(args.seeds):
                if strategy == "token_budget":
                    s = TokenBudgetSampler(
                        lengths=lengths, max_tokens=max(budget, args.cap), seed=seed
                    )
                else:
                    s = BucketBatchSampler(
                        lengths=lengths,
                        batch_size=args.batch_size,
                        seed=seed,
                        bucket_size_multiplier=1 if strategy == "random" else 50,
                    )
                for epoch in range(3):
                    s.set_epoch(epoch)
                    wastes.append(padding_waste(lengths, list(s)))
            rows.append(
                {
                    "tokens": name,
                    "strategy": strategy,
                    "waste_mean": float(np.mean(wastes)),
                    "waste_min": float(np.min(wastes)),
                    "waste_max": float(np.max(wastes)),
                    "runs": len(wastes),
                    "seconds": time.perf_counter() - start,
                }
            )
    print(
        f"IMDB train, n={len(train)}, cap {args.cap}, batch_size {args.batch_size}, "
        f"{args.seeds} seeds x 3 epochs"
    )
    print(f"{'tokens':16} {'strategy':13} {'waste mean':>10} {'min':>7} {'max':>7}")
    for r in rows:
        print(
            f"{r['tokens']:16} {r['strategy']:13} {r['waste_mean']:10.1%} "
            f"{r['waste_min']:7.1%} {r['waste_max']:7.1%}"
        )
    bucket = next(r for r in rows if r["tokens"] == "whitespace" and r["strategy"] == "bucket")
    random = next(r for r in rows if r["tokens"] == "whitespace" and r["strategy"] == "random")
    verdict = bucket["waste_max"] <= 0.03 and random["waste_min"] >= 0.50
    print(f"acceptance (bucket ≤ 3%, random ≥ 50%): {'PASS' if verdict else 'FAIL'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"rows": rows, "pass": verdict, "machine": platform.platform(), "args": vars(args)},
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
