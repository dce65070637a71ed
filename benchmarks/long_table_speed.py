"""Long tables at scale: the columnar reader against today's strict reader, side by side.

    .venv/bin/python benchmarks/long_table_speed.py                      # 1M sequences
    .venv/bin/python benchmarks/long_table_speed.py --sequences 100000 1000000
    .venv/bin/python benchmarks/long_table_speed.py --sequences 2000 --strict-max 2000  # smoke

Writes benchmarks/results/long_table_speed.json (``--out``) and prints one table.

Data: a synthetic long table per size (CSV, ``id,t,x0,x1,x2,label``): ``--sequences``
sequences, lengths log-normal with a median of 20 steps (sigma 0.6, at least 1: ~24 rows per
sequence on average), string ids (``seq0000042``), int steps 0..T-1, three float features
rounded to 4 decimals, one of two labels per sequence; rows grouped by sequence in step order
(``--shuffled``: rows of each 50,000 sequences shuffled together; ``--quoted``: ids and
labels quoted, as R writes them). At 1M sequences that is ~24M rows, ~1 GB. Files are
generated once into ``--workdir`` and reused.

Each (size, reader) runs in a fresh process (``--child``), which reports the wall time of the
read (``read_s``), ``rows_s`` (rows / read_s), the peak RSS (ru_maxrss after the read) and
``rss_base_mb`` (after imports, pyarrow's included, before the read), ``bytes_per_row`` =
(peak - base) / rows, and a digest of the dataset (ids, labels, splits, every float), which
tells whether the two readers' datasets are equal. The data is generated in a process of its
own too: a process started by one that ran the generator would inherit its peak RSS. Readers:
``strict`` (``read_long_table`` with the columnar fast path turned off: today's path, which
holds every cell as a Python object; run only up to ``--strict-max`` sequences) and
``columnar`` (``read_long_table_columnar``, which must not fall back here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KW = {"id_column": "id", "label_column": "label", "step_column": "t"}


# ----------------------------------------------------------------------------- data
def make_long_table(
    path: Path, sequences: int, *, seed: int = 0, shuffled: bool = False, quoted: bool = False
) -> int:
    """Write the synthetic table (module docstring) to ``path``; returns its rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    lengths = np.maximum(np.rint(rng.lognormal(np.log(20), 0.6, sequences)), 1).astype(np.int64)
    names = ["id", "t", "x0", "x1", "x2", "label"]
    style = "needed" if quoted else "none"
    tmp = path.with_suffix(".part")
    with pacsv.CSVWriter(
        tmp,
        pa.schema(
            [
                (n, {"id": pa.string(), "t": pa.int64(), "label": pa.string()}.get(n, pa.float64()))
                for n in names
            ]
        ),
        write_options=pacsv.WriteOptions(quoting_style=style),
    ) as writer:
        for start in range(0, sequences, 50_000):
            lens = lengths[start : start + 50_000]
            seq = np.repeat(np.arange(start, start + len(lens)), lens)
            steps = np.arange(len(seq)) - np.repeat(np.cumsum(lens) - lens, lens)
            order = rng.permutation(len(seq)) if shuffled else np.arange(len(seq))
            x = np.round(rng.standard_normal((len(seq), 3)), 4)
            label = np.where(rng.random(len(lens)) < 0.5, "a", "b")[seq - start]
            ids = np.char.add("seq", np.char.zfill(seq.astype(str), 7))
            cols = [ids, steps, x[:, 0], x[:, 1], x[:, 2], label]
            arrays = [pa.array(c[order]) for c in cols]
            writer.write(pa.record_batch(arrays, names=names))
    tmp.rename(path)
    return int(lengths.sum())


# ----------------------------------------------------------------------------- child
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digest(ds: Any) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([ds.ids, ds.labels, ds.splits, ds.feature_names, ds.skipped]).encode())
    for s in ds.sequences:
        h.update(np.ascontiguousarray(s).tobytes())
    return h.hexdigest()[:16]


def child(reader: str, path: str) -> dict:
    """Read ``path`` once with ``reader`` in this (fresh) process and report."""
    import pyarrow.compute
    import pyarrow.csv  # noqa: F401 - imported before the base RSS and the clock, by both

    import padless.data.columnar as columnar
    import padless.data.long_table as long_table

    if reader == "strict":  # today's path, whether or not read_long_table tries the fast one
        for module in (columnar, long_table):
            if hasattr(module, "read_long_table_columnar"):
                module.read_long_table_columnar = lambda *a, **k: None  # type: ignore
        read = long_table.read_long_table
    else:
        read = columnar.read_long_table_columnar
    base = _rss_mb()
    t0 = time.perf_counter()
    ds = read(path, **KW)
    read_s = time.perf_counter() - t0
    peak = _rss_mb()
    if ds is None:
        return {"error": "the columnar reader left the file to the strict reader"}
    rows = int(ds.lengths().sum())
    return {
        "read_s": read_s,
        "rows": rows,
        "rows_s": rows / read_s,
        "peak_rss_mb": peak,
        "rss_base_mb": base,
        "bytes_per_row": (peak - base) * 2**20 / rows,
        "digest": _digest(ds),
    }


def _run_child(*job: Any) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr[-3000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- parent
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sequences", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--strict-max", type=int, default=200_000)
    p.add_argument("--shuffled", action="store_true")
    p.add_argument("--quoted", action="store_true")
    p.add_argument("--workdir", default="/tmp/padless-long-table")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/long_table_speed.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        if job[0] == "generate":  # in a child too: the readers' peak RSS must not start here
            print(json.dumps(make_long_table(Path(job[1]), job[2], **job[3])))
        else:
            print(json.dumps(child(*job)))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.sequences:
        variant = "-shuffled" * args.shuffled + "-quoted" * args.quoted
        table = work / f"long-{n}{variant}.csv"
        if not table.exists():
            t0 = time.perf_counter()
            options = {"shuffled": args.shuffled, "quoted": args.quoted}
            _run_child("generate", str(table), n, options)
            print(f"generated {table} ({table.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
        mb = table.stat().st_size / 1e6
        for reader in ["strict", "columnar"] if n <= args.strict_max else ["columnar"]:
            r = {"sequences": n, "file_mb": mb, "reader": reader, **_run_child(reader, str(table))}
            results.append(r)
            print(_line(r), flush=True)
    _report(results, args.out)


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['sequences']:>10,} {r['reader']:<9} ERROR {r['error'][-400:]}"
    return (
        f"{r['sequences']:>10,} {r['rows']:>11,} {r['file_mb']:>7.0f} {r['reader']:<9} "
        f"{r['read_s']:>8.1f} {r['rows_s'] / 1e6:>7.2f} {r['peak_rss_mb']:>8.0f} "
        f"{r['bytes_per_row']:>6.1f} {r['digest']}"
    )


def _report(results: list[dict], out: str) -> None:
    head = (
        f"{'sequences':>10} {'rows':>11} {'file MB':>7} {'reader':<9} {'read s':>8} "
        f"{'Mrows/s':>7} {'RSS MB':>8} {'B/row':>6} digest"
    )
    print("\n" + head + "\n" + "\n".join(_line(r) for r in results))
    by = {(r["sequences"], r["reader"]): r for r in results if "error" not in r}
    for n in sorted({r["sequences"] for r in results}):
        strict, fast = by.get((n, "strict")), by.get((n, "columnar"))
        if strict and fast and fast["bytes_per_row"] > 0:
            same = "same dataset" if strict["digest"] == fast["digest"] else "DIFFERENT datasets"
            print(
                f"{n:>10,} sequences: columnar {strict['read_s'] / fast['read_s']:.1f}x faster, "
                f"{strict['bytes_per_row'] / fast['bytes_per_row']:.1f}x less memory per row, "
                f"{same}"
            )
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "argv": sys.argv[1:]}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
