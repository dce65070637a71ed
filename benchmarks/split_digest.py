"""The sha256 of every prepared split's token ids and targets, for a recipe.

    .venv/bin/python benchmarks/split_digest.py RECIPE [KEY=VALUE ...]
    PYTHONPATH=<checkout of an older commit>/src .venv/bin/python benchmarks/split_digest.py ...

e.g. ``RECIPE = configs/imdb.toml`` with ``data.path=../shared/data/imdb/imdb.csv.gz``.

Prints one JSON line ``{split: [rows, ids digest, targets digest]}`` (16 hex digits each), so the
data stage of two versions of padless can be compared: equal digests mean the same rows in each
split, the same ids and the same targets, hence the same batches (a function of the lengths
and the seed) and the same metrics. Works with versions before the encoded store (where
``prepare`` lived in ``padless.encode.splits``) and after.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np


def main(argv: list[str]) -> None:
    from padless.config import load_config

    try:
        from padless.encode.prepared import prepare
    except ImportError:  # before the store
        from padless.encode.splits import prepare  # type: ignore[attr-defined,no-redef]

    data = prepare(load_config(argv[0], argv[1:]))
    out = {}
    for name, split in data.splits.items():
        ids = hashlib.sha256()
        for i in range(len(split)):
            ids.update(np.asarray(split.inputs[i], np.int64).tobytes())
        targets = hashlib.sha256(np.asarray(split.targets).tobytes())
        out[name] = [len(split), ids.hexdigest()[:16], targets.hexdigest()[:16]]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
