"""Inference on IMDB test reviews (issue 5): latency at batch 1 and batch throughput, side by side.

    .venv/bin/python benchmarks/inference.py --model runs/imdb/model     # a trained artifact
    .venv/bin/python benchmarks/inference.py                              # trains one first
    .venv/bin/python benchmarks/inference.py --quick                      # smoke run

Without ``--model`` it first trains ``configs/imdb.toml`` for ``--train-epochs`` epochs
(default 2) on ``--data`` into ``--out``. Every row runs the same model weights on the same
encoded reviews (the artifact's own tokenisation, done once and not timed):

  tutorial   the path users copy: nn.Embedding → pack_padded_sequence(enforce_sorted=False)
             → nn.LSTM → pad_packed_sequence → the same masked pooling and head (eager)
  eager      padless's SequenceClassifier (padded execution; the fused kernel when built)
  torchscript  ``padless export --format torchscript`` (when that format is available)
  onnx       ``padless export`` (fp32) in ONNX Runtime
  onnx-int8  ``padless export --format onnx-int8`` in ONNX Runtime

Latency: ``--latency-reviews`` random test reviews one at a time (batch 1), p50 / p99 of the
model call in milliseconds, after ``--warmup`` untimed calls. Throughput:
``--throughput-reviews`` reviews in length-sorted batches of ``--batch-size``, reviews per
second. Accuracy of the fp32 and int8 ONNX graphs on ``--accuracy-reviews`` test reviews (all
25,000 by default). Torch and ONNX Runtime both use ``--threads`` threads; the ONNX rows also
run with one intra-op thread (``onnx@1``, ``onnx-int8@1``) when ``--threads`` is not 1. Rows
run interleaved round by round (``--rounds``; the table shows the median); compare the
ratios to the tutorial row, not absolute times. Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "imdb" / "imdb.csv.gz"


class TutorialModel(nn.Module):
    """The textbook packed BiLSTM, loaded with the artifact's weights (same numbers)."""

    def __init__(self, model):
        super().__init__()
        enc = model.encoder
        self.embed = model.embed
        self.lstm = nn.LSTM(
            enc.input_size,
            enc.hidden_size,
            num_layers=enc.num_layers,
            bidirectional=enc.bidirectional,
            batch_first=True,
        )
        self.lstm.load_state_dict(enc.state_dict())  # nn.LSTM parameter names
        self.pool, self.head = model.pool, model.head

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(self.pool(out, lengths))


def train_model(args) -> Path:
    out = Path(args.out) / "run"
    cmd = [sys.executable, "-m", "padless", "-q", "train", str(ROOT / "configs" / "imdb.toml")]
    cmd += ["--out", str(out), "--overwrite", "--set", f"data.path={args.data}"]
    cmd += ["--set", f"train.epochs={args.train_epochs}"]
    print("training:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "CI": "1"})
    return out / "model"


def export_all(model_dir: Path, work: Path) -> dict[str, dict]:
    from padless.deploy.export import FORMATS, export_artifact

    reports = {}
    for fmt in ("onnx", "onnx-int8", "torchscript"):
        if fmt not in FORMATS:
            continue
        suffix = ".pt" if fmt == "torchscript" else ".onnx"
        reports[fmt] = export_artifact(model_dir, work / f"model-{fmt}{suffix}", fmt=fmt)
    return reports


def runners(predictor, reports: dict, threads: int) -> dict:
    """name → callable(inputs ndarray, lengths ndarray) → logits ndarray.

    The ONNX rows run through ``padless.predict.backend_runner`` (what ``padless predict
    --backend onnx --threads N`` uses) with ``threads`` intra-op threads, and, when that is
    not 1, again with one thread (``onnx@1``, ``onnx-int8@1``): ONNX Runtime's recurrent
    kernels run one sequence's steps on one core, and for single inputs extra threads cost
    more than they give.
    """
    from padless.deploy.backends import backend_runner

    model = predictor.artifact.model.eval()
    tutorial = TutorialModel(model).eval()

    def torch_runner(m):
        def run(x, lengths):
            with torch.inference_mode():
                return m(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()

        return run

    out = {"tutorial": torch_runner(tutorial), "eager": torch_runner(model)}
    if "torchscript" in reports:
        out["torchscript"] = torch_runner(torch.jit.load(reports["torchscript"]["path"]))
    art = predictor.artifact
    for n in sorted({threads, 1}, reverse=True):
        tag = "" if n == threads else f"@{n}"
        for fmt in ("onnx", "onnx-int8"):
            out[fmt + tag] = backend_runner(art, "onnx", reports[fmt]["path"], threads=n)
    return out


def batches(encoded: list, idx: np.ndarray, size: int):
    from padless.batching.batch import collate

    order = idx[np.argsort([len(encoded[i]) for i in idx], kind="stable")]
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        b = collate([encoded[i] for i in rows])
        yield rows, b.inputs.numpy(), b.lengths.numpy()


def latency_ms(run, singles, warmup: int) -> dict:
    for x, lengths in singles[:warmup]:
        run(x, lengths)
    times = []
    for x, lengths in singles:
        t0 = time.perf_counter()
        run(x, lengths)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def throughput(run, prepared) -> float:
    run(*prepared[0][1:])  # warm-up
    t0 = time.perf_counter()
    n = 0
    for rows, x, lengths in prepared:
        run(x, lengths)
        n += len(rows)
    return n / (time.perf_counter() - t0)


def accuracy(run, encoded, labels, idx, size) -> float:
    scores = np.zeros(len(idx), np.float32)
    where = {int(i): k for k, i in enumerate(idx)}
    for rows, x, lengths in batches(encoded, idx, size):
        out = run(x, lengths)[:, 0]
        for r, v in zip(rows, out, strict=True):
            scores[where[int(r)]] = v
    return float(((scores > 0) == labels[idx]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained IMDB artifact (DIR/model); default: train one")
    ap.add_argument("--data", default=str(SHARED), help="IMDB CSV / tarball / folder or 'imdb'")
    ap.add_argument("--out", default="/tmp/padless-inference")
    ap.add_argument("--train-epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency-reviews", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--throughput-reviews", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--accuracy-reviews", type=int, default=25000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small counts, one round")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "inference.json"))
    args = ap.parse_args()
    if args.quick:
        args.latency_reviews, args.throughput_reviews, args.warmup = 30, 200, 3
        args.accuracy_reviews, args.rounds = 500, 1
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)

    import padless
    from padless.data.imdb import imdb

    Path(args.out).mkdir(parents=True, exist_ok=True)
    model_dir = Path(args.model) if args.model else train_model(args)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=args.out))
    reports = export_all(model_dir, work)
    predictor = padless.load(model_dir)
    test = imdb(None if args.data == "imdb" else args.data).split("test")
    classes = predictor.labels
    labels = np.array([classes.index(y) for y in test.labels])
    encoded = predictor.encode_each(test.texts)
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(len(encoded))
    singles = []
    for i in pick[: args.latency_reviews]:
        x, lengths = predictor.encode([test.texts[i]])
        singles.append((x, lengths))
    prepared = list(batches(encoded, pick[: args.throughput_reviews], args.batch_size))
    run = runners(predictor, reports, args.threads)

    # Same numbers first: every fp32 path against eager on one batch.
    _, x, lengths = prepared[len(prepared) // 2]
    ref = run["eager"](x, lengths)
    agree = {name: float(np.abs(fn(x, lengths) - ref).max()) for name, fn in run.items()}

    rounds: dict[str, list[dict]] = {name: [] for name in run}
    names = list(run)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            row = latency_ms(run[name], singles, args.warmup)
            row["reviews_per_s"] = throughput(run[name], prepared)
            rounds[name].append(row)
            print(f"round {r + 1} {name}: {row}", flush=True)
    table = {}
    for name, rows in rounds.items():
        table[name] = {k: float(np.median([x[k] for x in rows])) for k in rows[0]}
    base = table["tutorial"]
    for name, row in table.items():
        row["latency_speedup"] = base["p50_ms"] / row["p50_ms"]
        row["throughput_speedup"] = row["reviews_per_s"] / base["reviews_per_s"]
        row["max_abs_diff_vs_eager"] = agree[name]
    sizes = {"safetensors": (model_dir / "model.safetensors").stat().st_size}
    sizes.update({fmt: rep["bytes"] for fmt, rep in reports.items()})
    acc_idx = pick[: args.accuracy_reviews]
    acc = {fmt: accuracy(run[fmt], encoded, labels, acc_idx, 256) for fmt in ("onnx", "onnx-int8")}

    print()
    print(f"{'path':12s} {'p50 ms':>8s} {'p99 ms':>8s} {'rev/s':>9s} {'p50 x':>7s} {'tput x':>7s}")
    for name, row in table.items():
        print(
            f"{name:12s} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['reviews_per_s']:9.1f} "
            f"{row['latency_speedup']:7.2f} {row['throughput_speedup']:7.2f}"
        )
    for tag in [""] + (["@1"] if "onnx@1" in table else []):
        q, f = table["onnx-int8" + tag], table["onnx" + tag]
        print(
            f"int8 over onnx fp32{tag or f' ({args.threads} threads)'}: latency "
            f"{f['p50_ms'] / q['p50_ms']:.2f}x, "
            f"throughput {q['reviews_per_s'] / f['reviews_per_s']:.2f}x"
        )
    print(f"accuracy on {len(acc_idx)} test reviews: {acc}")
    print(f"file sizes (bytes): {sizes}")
    result = {
        "meta": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "date": time.strftime("%Y-%m-%d"),
            "model": str(model_dir),
            "args": vars(args),
        },
        "table": table,
        "rounds": rounds,
        "accuracy": acc,
        "sizes": sizes,
        "exports": reports,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("wrote", args.json)


if __name__ == "__main__":
    main()
