"""Collation cost of the same training batches from the encoded store and from memory.

    .venv/bin/python benchmarks/collate_overhead.py [TABLE]   # ~1 min

TABLE defaults to the 100k-row table ``benchmarks/data_scale.py`` generates. Prepares the train
split twice (in memory, and from the store in a scratch cache), then times ``make_batch`` over
the same first 1,000 bucketed batches of 64, 5 rounds alternating which goes first, and prints
the median microseconds per batch of each. A training step of the data_scale model on these
batches takes ~35 ms, so the difference is what the store adds to each step.
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np


def main() -> None:
    from padless.batching.batch import make_batch
    from padless.batching.samplers import BucketBatchSampler
    from padless.config import load_config
    from padless.encode.prepared import prepare
    from padless.encode.splits import prepare_in_memory

    table = sys.argv[1] if len(sys.argv) > 1 else "/tmp/padless-data-scale/text-100000.csv"
    with tempfile.TemporaryDirectory() as cache:
        cfg = load_config(
            None, ["data.source=table", f"data.path={table}", f"data.cache_dir={cache}"]
        )
        memory, store = prepare_in_memory(cfg).splits["train"], prepare(cfg).splits["train"]
        sampler = BucketBatchSampler(memory.lengths(), 64, seed=0)
        batches = list(sampler)[:1000]
        times: dict[str, list[float]] = {"memory": [], "store": []}
        for r in range(5):
            order = [("memory", memory), ("store", store)]
            for name, split in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                for b in batches:
                    make_batch(split, b, "binary")
                times[name].append((time.perf_counter() - t0) / len(batches) * 1e6)
    for name, v in times.items():
        print(f"{name:<7} median {np.median(v):6.0f} us/batch  rounds {[round(x) for x in v]}")


if __name__ == "__main__":
    main()
