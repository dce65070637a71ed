"""Training (and inference) throughput of BiLSTM execution paths on IMDB lengths, side by side.

    .venv/bin/python benchmarks/train_throughput.py            # LSTM training table (~8 min)
    .venv/bin/python benchmarks/train_throughput.py --quick    # smoke run: 256 reviews, 1 round
    .venv/bin/python benchmarks/train_throughput.py --all      # + GRU, RNN, 2-layer, inference
    .venv/bin/python benchmarks/train_throughput.py --cell gru --layers 2 --inference
    .venv/bin/python benchmarks/train_throughput.py --cells lstm,gru,rnn --only bcdij  # one run

Prints one table per configuration and writes benchmarks/results/train_throughput.json
(``--out`` to change). Compare the ratios between rows of one run, not absolute seconds.

Workload: a fixed subset of ``--rows`` IMDB train reviews (sampled with ``--seed``), lengths =
whitespace tokens capped at ``--cap``. The model input is random N(0, 1) float features
(B, T, I), seeded per review, so every row sees the same values for the same review (the
embedding is not part of the benchmark). Step = bidirectional encoder -> masked mean over the
real steps -> Linear(D*H, 1) -> BCEWithLogitsLoss on the review's label -> backward ->
AdamW step (``--inference``: the forward and the loss under ``torch.no_grad()``). No dropout.

Rows (``--only a,c,d`` picks some):

  (a) tutorial recipe: random batches padded to ``--cap``, nn.LSTM, denormal flush OFF
  (b) pack per random batch: pack_padded_sequence(enforce_sorted=False) -> nn.LSTM ->
      pad_packed_sequence, flush on
  (c) nn.LSTM on bucketed batches padded to the batch max, flush on (fast, but the reverse
      direction starts on padding: inexact)
  (d) padless default: bucketed batches + RecurrentEncoder(execution="auto"), flush on;
      forward(x, lengths, return_state=False) as SequenceClassifier calls it (the masked-mean
      loss needs no final state). For LSTM the padded path runs padless's fused C++ kernel
      when it is built (``--child-env PADLESS_NO_EXT=1`` measures the torch-kernel fallback)
  (e) padless on random batches (execution="padded"), flush on
  (f) padless on bucketed batches, execution="packed", flush on
  (g) as (d) but return_state=True (exact LSTM final cell state: the time-segmented path)
  (h) optional (``--only abcdefgh``): (a) with the denormal flush on, to split (a)'s cost into
      padding and denormals
  (i) the one-import change: (b)'s code (pack per random batch -> layer -> pad_packed_sequence,
      called as nn.LSTM and nn.utils.rnn.*) after ``import padless.nn as nn``: padless's layer
      and its linear-time pad_packed_sequence
  (j) padless.nn's drop-in layer on bucketed batches, called with ``lengths=`` (no packing)

Random batches: BucketBatchSampler(bucket_size_multiplier=1), i.e. pools of one batch.
Bucketed batches: BucketBatchSampler defaults (pools of 50 batches sorted by length).

Every (row, round) runs in a fresh subprocess of this script (``--child``): that isolates the
process-wide denormal flag and gives a clean peak-memory reading (VmHWM after resetting it via
/proc/self/clear_refs once the batches and the model exist; ru_maxrss deltas as a fallback).
Rounds are interleaved (round 1 runs every row, then round 2 ...; the row order rotates each
round) and the table reports the median per row. Each process warms up on one step that is not
timed. Every row times the same batches of the subset (same real tokens), except that the rows
that are slow in training (a, b, f and the optional h) run in the first ``--slow-rounds``
rounds only (default 1: the median is then that one run) and, with ``--slow-batches K``, time
only K whole batches (random rows: the first K of the plan; bucketed rows: evenly spaced by
length, including the longest); their real-token counts are reported. Throughput = real tokens
(sum of lengths, never padding) / seconds of the timed steps.

The machine is shared: before each measured process the script waits (``--wait-quiet``) for
the kernel's CPU pressure (PSI ``/proc/pressure/cpu``, share of time some task waited for a CPU)
to settle, records the pressure over each timed region, and reruns a (row, round) whose
pressure exceeded ``--max-pressure`` (``--retries`` times, once for the slow training rows;
discarded attempts stay in the JSON).

The measured processes import a copy of src/padless taken when the run starts (its C++ kernel
built once, in a private TORCH_EXTENSIONS_DIR, before any timing), so edits made while the
benchmark runs do not mix versions; ``--no-snapshot`` measures the live sources. The sources'
hash is in the JSON.

Peak FLOP/s is measured in the same run (a subprocess per round): fp32 torch.mm 1024^3 and the
recurrent step shape 64x128 @ 128x512, best chunk per process, best over rounds. Achieved
FLOP/s uses the BRIEF's count per token, direction and layer: LSTM 8*H*(I+H), GRU 6*H*(I+H),
RNN 2*H*(I+H) (I = D*H above the first layer); training counts 3x the forward.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT.parents[1] / "shared/data/imdb/imdb.csv.gz"
DEFAULT_OUT = ROOT / "results" / "train_throughput.json"


class Row(NamedTuple):
    description: str
    batching: str  # "random" or "bucket"
    padding: str  # "cap" (every batch padded to --cap) or "max" (to the batch's longest)
    impl: str  # "torch", "torch_packed" or "padless"
    execution: str | None  # RecurrentEncoder(execution=...)
    flush: bool  # torch.set_flush_denormal
    slow: bool  # training: only --slow-rounds rounds (and --slow-batches batches)
    state: bool = False  # padless: forward(..., return_state=True)


ROWS: dict[str, Row] = {
    "a": Row("tutorial: pad to cap, torch.nn", "random", "cap", "torch", None, False, True),
    "b": Row("pack per batch, torch.nn", "random", "max", "torch_packed", None, True, True),
    "c": Row("torch.nn padded (inexact rev.)", "bucket", "max", "torch", None, True, False),
    "d": Row("padless execution=auto", "bucket", "max", "padless", "auto", True, False),
    "e": Row("padless execution=padded", "random", "max", "padless", "padded", True, False),
    "f": Row("padless execution=packed", "bucket", "max", "padless", "packed", True, True),
    "g": Row("padless auto, return_state", "bucket", "max", "padless", "auto", True, False, True),
    "h": Row("(a) with flush on", "random", "cap", "torch", None, True, True),
    "i": Row("drop-in padless.nn, pack/batch", "random", "max", "nn_packed", None, True, False),
    "j": Row("drop-in padless.nn, lengths=", "bucket", "max", "nn_lengths", None, True, False),
}
# acceptance: (d) against (row) at least this ratio, in training and in inference
TARGETS = (("b", 15.0), ("a", 10.0), ("c", 1.5))
INFERENCE_TARGETS = (("c", 1.2),)
GEMM_TARGET, GEMM_STRETCH = 0.40, 0.60
FLOP_FACTOR = {"lstm": 8, "gru": 6, "rnn": 2}


# --------------------------------------------------------------------------------------------
# helpers shared by parent and child
# --------------------------------------------------------------------------------------------


def flop_per_token(cell: str, input_size: int, hidden: int, layers: int, directions: int) -> int:
    """Forward FLOP per real token (BRIEF section 2 count)."""
    total = 0
    for layer in range(layers):
        in_size = input_size if layer == 0 else directions * hidden
        total += directions * FLOP_FACTOR[cell] * hidden * (in_size + hidden)
    return total


def _proc_status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) if m else None


def _reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_pressure_us() -> int | None:
    """Linux PSI: total microseconds during which some runnable task waited for a CPU."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Contention:
    """CPU contention over a timed region: PSI "some" share of the wall time (0 = nobody
    waited for a CPU) and CPU seconds used by this process per wall second."""

    def __enter__(self) -> Contention:
        self.psi0, self.ru0 = _cpu_pressure_us(), resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        ru1, psi1 = resource.getrusage(resource.RUSAGE_SELF), _cpu_pressure_us()
        cpu = (ru1.ru_utime - self.ru0.ru_utime) + (ru1.ru_stime - self.ru0.ru_stime)
        self.cpu_per_wall = cpu / wall
        self.sys_share = (ru1.ru_stime - self.ru0.ru_stime) / cpu if cpu else 0.0
        self.pressure = None if psi1 is None else (psi1 - self.psi0) / 1e6 / wall


def padless_source_sha256() -> str:
    """Hash of the padless engine sources (models, kernels, C++), read now: other engineers
    edit them while benchmarks run, so every measured process records what it imported."""
    import padless

    return _snapshot_hash(Path(padless.__file__).resolve().parent)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
    except OSError:
        pass
    return []


# --------------------------------------------------------------------------------------------
# child: one row (or the GEMM peak) in a fresh process
# --------------------------------------------------------------------------------------------


def _encoder_contract() -> dict:
    from padless.models.encoder import RecurrentEncoder

    params = inspect.signature(RecurrentEncoder.__init__).parameters
    forward = inspect.signature(RecurrentEncoder.forward).parameters
    return {
        "execution": "execution" in params,
        "nonlinearity": "nonlinearity" in params,
        "return_state": "return_state" in forward,
    }


def _build_batches(spec: dict, batches: list[list[int]], pad: str):
    """Padded float batches (collate) for lists of subset positions; features seeded per review."""
    import torch

    from padless.batching.batch import collate

    out = []
    for positions in batches:
        samples = []
        for p in positions:
            rng = np.random.default_rng([spec["seed"], spec["review_ids"][p]])
            feats = rng.standard_normal((spec["lengths"][p], spec["input_size"]), dtype=np.float32)
            samples.append((feats, spec["labels"][p]))
        multiple = spec["cap"] if pad == "cap" else None
        b = collate(samples, pad_to_multiple_of=multiple)
        out.append((b.inputs, b.lengths, b.mask, b.labels.to(torch.float32)))
    return out


def _truncate(batch, steps: int):
    x, lengths, mask, labels = batch
    steps = min(steps, x.shape[1])
    return x[:, :steps].contiguous(), lengths.clamp(max=steps), mask[:, :steps], labels


def _load_reference_weights(enc, ref, directions: int) -> None:
    """nn.LSTM-named parameters load directly; older encoders (one module per layer and
    direction) get them copied by name."""
    try:
        enc.load_state_dict(ref.state_dict())
        return
    except (RuntimeError, KeyError):
        pass
    import torch

    ref_params = dict(ref.named_parameters())
    with torch.no_grad():
        for layer, dirs in enumerate(enc.layers):
            for d in range(directions):
                suffix = "_reverse" if d else ""
                for name, param in dirs[d].named_parameters():
                    base = name[: -len("_l0")]
                    param.copy_(ref_params[f"{base}_l{layer}{suffix}"])


def _probe_gflops(seconds: float = 0.25) -> float:
    """Quick 1024^3 fp32 GEMM rate, to spot a neighbour stealing the CPU during a row."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    return 2.0 * 1024**3 * count / (time.perf_counter() - start) / 1e9


def _kernel_status() -> dict | None:
    """Whether padless's fused C++ LSTM kernel was built (the padded path uses it for LSTM)."""
    try:
        from padless.nn import kernels
    except ImportError:
        return None
    return {"available": kernels.available(), "reason": kernels.unavailable_reason()}


def child_row(spec: dict, key: str) -> dict:
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    import padless.nn as padless_nn
    from padless.models.encoder import RecurrentEncoder

    source_hash = padless_source_sha256()
    desc, batching, pad, impl, execution, flush, slow, want_state = ROWS[key]
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.set_flush_denormal(flush)
    train = spec["mode"] == "train"
    slow = slow and train
    plan = spec["batches"][batching + ("_slow" if slow else "")]
    batches = _build_batches(spec, plan, pad)
    warm = _truncate(batches[0], 64) if slow else batches[0]

    cell, i_size, hidden = spec["cell"], spec["input_size"], spec["hidden"]
    layers, directions = spec["layers"], 2
    torch.manual_seed(spec["seed"])
    kwargs = {"nonlinearity": spec["nonlinearity"]} if cell == "rnn" else {}
    ref = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](
        i_size, hidden, num_layers=layers, bidirectional=True, batch_first=True, **kwargs
    )
    head = nn.Linear(directions * hidden, 1)
    contract = _encoder_contract()
    if impl == "padless":
        enc_kwargs = {}
        if contract["execution"]:
            enc_kwargs["execution"] = execution
        elif execution != "padded" and execution != "auto":
            raise SystemExit(f"row ({key}) needs RecurrentEncoder(execution=...): not present")
        if cell == "rnn" and contract["nonlinearity"]:
            enc_kwargs["nonlinearity"] = spec["nonlinearity"]
        encoder = RecurrentEncoder(cell, i_size, hidden, layers, True, 0.0, **enc_kwargs)
        _load_reference_weights(encoder, ref, directions)
    elif impl.startswith("nn_"):  # the drop-in layer: torch.nn's class name, padless's module
        encoder = getattr(padless_nn, type(ref).__name__)(
            i_size, hidden, num_layers=layers, bidirectional=True, batch_first=True, **kwargs
        )
        encoder.load_state_dict(ref.state_dict())
    else:
        encoder = ref

    def encode(x, lengths):
        if impl == "torch":
            return encoder(x)[0]
        if impl == "nn_lengths":
            return encoder(x, lengths=lengths)[0]
        if impl == "torch_packed":
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(encoder(packed)[0], batch_first=True)
            return out
        if impl == "nn_packed":  # (b)'s code after `import padless.nn as nn`
            rnn = padless_nn.utils.rnn
            packed = rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = rnn.pad_packed_sequence(encoder(packed)[0], batch_first=True)
            return out
        if contract["return_state"]:
            return encoder(x, lengths, return_state=want_state)[0]
        result = encoder(x, lengths)
        return result[0] if isinstance(result, tuple) else result  # new contract: (out, state)

    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()

    def step(batch) -> None:
        x, lengths, mask, labels = batch
        out = encode(x, lengths)  # (B, T', D*H); T' = longest length for packed rows
        m = mask[:, : out.shape[1], None].to(out.dtype)
        pooled = (out * m).sum(1) / lengths[:, None].to(out.dtype)  # masked mean (B, D*H)
        loss = loss_fn(head(pooled).squeeze(-1), labels)
        if train:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    encoder.train(train)
    grad = torch.enable_grad() if train else torch.no_grad()
    probe_before = _probe_gflops()
    rss_base = _proc_status_kb("VmRSS")
    reset = _reset_peak_rss()
    maxrss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with grad:
        step(warm)
        times = []
        with Contention() as load:
            for batch in batches:
                t0 = time.perf_counter()
                step(batch)
                times.append(time.perf_counter() - t0)
    hwm = _proc_status_kb("VmHWM")
    if reset and hwm is not None and rss_base is not None:
        peak_mb, peak_how = (hwm - rss_base) / 1024, "VmHWM - VmRSS after reset"
    else:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb, peak_how = (maxrss - maxrss_base) / 1024, "ru_maxrss delta"
    probe_after = _probe_gflops()
    real = sum(int(b[1].sum()) for b in batches)
    computed = sum(int(b[0].shape[0] * b[0].shape[1]) for b in batches)
    return {
        "row": key,
        "seconds": sum(times),
        "batch_seconds": times,
        "real_tokens": real,
        "padded_steps": computed,
        "batches": len(batches),
        "tokens_per_s": real / sum(times),
        "peak_mb": peak_mb,
        "peak_how": peak_how,
        "baseline_rss_mb": (rss_base or 0) / 1024,
        "flush_denormal": flush,
        "warmup": "first batch cut to 64 steps" if slow else "first batch",
        "threads": torch.get_num_threads(),
        "encoder_contract": contract if impl == "padless" else None,
        "probe_gflops_before_after": [probe_before, probe_after],
        "padless_source_sha256": source_hash,
        "padless_kernel": _kernel_status() if impl == "padless" else None,
        "cpu_pressure": load.pressure,
        "cpu_seconds_per_second": load.cpu_per_wall,
        "sys_share_of_cpu": load.sys_share,
    }


def child_gemm(spec: dict) -> dict:
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.set_flush_denormal(True)
    gen = torch.Generator().manual_seed(0)
    result = {"threads": torch.get_num_threads()}
    for name, (m, k, n), chunk, seconds in (
        ("mm_1024", (1024, 1024, 1024), 8, 1.5),
        ("mm_step_64x128x512", (64, 128, 512), 400, 1.0),
    ):
        a = torch.randn(m, k, generator=gen)
        b = torch.randn(k, n, generator=gen)
        c = torch.empty(m, n)
        for _ in range(3):
            torch.mm(a, b, out=c)
        best, start = float("inf"), time.perf_counter()
        with Contention() as load:
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                for _ in range(chunk):
                    torch.mm(a, b, out=c)
                best = min(best, (time.perf_counter() - t0) / chunk)
        result[name] = 2.0 * m * k * n / best
        result["cpu_pressure"] = max(result.get("cpu_pressure") or 0.0, load.pressure or 0.0)
    return result


def child_main(spec_path: str, key: str) -> None:
    if key == "build":  # import padless and build its C++ kernel once, before any timing
        print("RESULT " + json.dumps(_kernel_status() or {}), flush=True)
        return
    spec = json.loads(Path(spec_path).read_text())
    result = child_gemm(spec) if key == "gemm" else child_row(spec, key)
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------
# parent: data, plans, orchestration, table
# --------------------------------------------------------------------------------------------


def snapshot_padless(env: dict) -> tuple[Path, str]:
    """Copy the padless package to a temporary folder that the measured processes import (via
    PYTHONPATH) and build its C++ kernel there once, in a private TORCH_EXTENSIONS_DIR: every
    row then runs the same sources, even while others edit src/padless."""
    import padless

    src = Path(padless.__file__).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="padless-bench-"))
    shutil.copytree(src, root / "padless", ignore=shutil.ignore_patterns("__pycache__"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    digest = _snapshot_hash(root / "padless")
    ext_dir = Path(tempfile.gettempdir()) / "padless-bench-ext" / digest
    env.setdefault("TORCH_EXTENSIONS_DIR", str(ext_dir))
    return root, digest


def _snapshot_hash(package: Path) -> str:
    h = hashlib.sha256()
    for rel in ("models/encoder.py", "nn/kernels.py", "nn/csrc/lstm.cpp"):
        if (package / rel).exists():
            h.update(rel.encode() + b"\0" + (package / rel).read_bytes())
    return h.hexdigest()[:16]


def load_subset(args) -> dict:
    from padless.data.imdb import imdb

    train = imdb(args.data, splits=("train",), progress=False)
    rng = np.random.default_rng(args.seed)
    n = min(args.rows, len(train))
    ids = np.sort(rng.choice(len(train), size=n, replace=False))
    raw = np.array([len(train.texts[i].split()) for i in ids], dtype=np.int64)
    lengths = np.clip(raw, 1, args.cap)
    labels = [int(train.labels[i] == "pos") for i in ids]
    return {"review_ids": ids.tolist(), "lengths": lengths.tolist(), "labels": labels}


def batch_plans(lengths: np.ndarray, args) -> dict[str, list[list[int]]]:
    from padless.batching.samplers import BucketBatchSampler

    rand = BucketBatchSampler(lengths, args.batch_size, seed=args.seed, bucket_size_multiplier=1)
    bucket = BucketBatchSampler(lengths, args.batch_size, seed=args.seed)
    plans = {"random": list(rand), "bucket": list(bucket)}
    k = (
        len(plans["random"])
        if args.slow_batches < 1
        else min(args.slow_batches, len(plans["random"]))
    )
    plans["random_slow"] = plans["random"][:k]
    by_len = sorted(plans["bucket"], key=lambda b: max(lengths[b]))
    picks = sorted({int(round(p)) for p in np.linspace(0, len(by_len) - 1, k)})
    plans["bucket_slow"] = [by_len[p] for p in picks]
    return plans


def _cpu_pressure_avg10() -> float | None:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(line.split("avg10=", 1)[1].split()[0]) / 100
    except (OSError, ValueError, IndexError):
        return None


def wait_for_quiet(limit_s: float, threshold: float) -> float:
    """Wait (at most ``limit_s``) until the 10 s CPU pressure average is below ``threshold``;
    returns the seconds waited. Neighbours' bursts on this shared machine last minutes."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        avg10 = _cpu_pressure_avg10()
        if avg10 is None or avg10 < threshold:
            break
        time.sleep(2.0)
    return time.perf_counter() - start


def run_child(spec_path: str, key: str, args, slow: bool = False) -> dict:
    """Run one child after waiting for a quiet CPU; rerun it (up to ``args.retries`` times)
    while the CPU pressure during its timed region exceeded ``args.max_pressure``. Returns the
    last attempt, the earlier ones under ``discarded_attempts``."""
    timeout = 120 if key == "gemm" else args.child_timeout
    retries = args.retries + 2 if key == "gemm" else args.retries  # a GEMM run takes ~3 s
    if slow:
        retries = min(retries, 1)  # a slow row takes minutes
    discarded: list[dict] = []
    for attempt in range(retries + 1):
        waited = wait_for_quiet(args.wait_quiet, args.max_pressure / 2)
        res = _run_child_once(spec_path, key, timeout, args.env)
        res["waited_for_quiet_s"] = waited
        pressure = res.get("cpu_pressure")
        if "error" in res or pressure is None or pressure <= args.max_pressure:
            break
        if attempt < retries:
            discarded.append(res)
            print(
                f"  ({key}) CPU pressure {pressure:.0%} > {args.max_pressure:.0%}: "
                "running it again",
                file=sys.stderr,
            )
    if discarded:
        res = {**res, "discarded_attempts": discarded}
    return res


def _run_child_once(spec_path: str, key: str, timeout: float, env: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", spec_path, "--row", key]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env, "PADLESS_BENCH_CHILD": "1"},
        )
    except subprocess.TimeoutExpired:
        return {"row": key, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"row": key, "error": f"exit {proc.returncode}: " + " | ".join(tail)}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _clean_gemm(gemm: list[dict], max_pressure: float) -> list[dict]:
    """Every GEMM attempt (kept or discarded) whose CPU pressure was at most ``max_pressure``."""
    attempts = [a for g in gemm for a in (g, *g.get("discarded_attempts", ())) if "error" not in a]
    return [a for a in attempts if (a.get("cpu_pressure") or 0.0) <= max_pressure]


def run_table(config: dict, subset: dict, plans: dict, args, contract: dict) -> dict:
    mode = config["mode"]
    keys = [k for k in args.only if k in ROWS]
    skipped = {}
    for key in list(keys):
        if not contract["execution"] and key == "f":
            skipped[key] = "RecurrentEncoder has no execution= argument (older models.py)"
        if not contract["return_state"] and ROWS[key].state:
            skipped[key] = "RecurrentEncoder.forward has no return_state= argument"
        if key in skipped:
            keys.remove(key)
    spec = {
        **subset,
        **config,
        "cap": args.cap,
        "seed": args.seed,
        "threads": args.threads,
        "input_size": args.input_size,
        "hidden": args.hidden,
        "nonlinearity": args.nonlinearity,
        "batches": plans,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    per_row: dict[str, list[dict]] = {k: [] for k in keys}
    gemm: list[dict] = []
    label = f"{config['cell']} x{config['layers']} {mode}"
    try:
        for r in range(args.rounds):
            g = run_child(spec_path, "gemm", args)
            gemm.append(g)
            if "error" in g:
                print(f"[{label} round {r + 1}] gemm: {g['error']}", file=sys.stderr)
            order = keys[r % len(keys) :] + keys[: r % len(keys)]
            if r >= args.slow_rounds and mode == "train":
                order = [k for k in order if not ROWS[k].slow]
            for key in order:
                res = run_child(spec_path, key, args, slow=ROWS[key].slow and mode == "train")
                per_row[key].append(res)
                if "error" in res:
                    msg = res["error"]
                else:
                    probe = "/".join(f"{v:.0f}" for v in res["probe_gflops_before_after"])
                    pressure = res["cpu_pressure"]
                    msg = (
                        f"{res['tokens_per_s']:,.0f} tok/s ({res['real_tokens']:,} tokens, "
                        f"{res['seconds']:.1f} s, peak +{res['peak_mb']:.0f} MB, "
                        f"GEMM probe before/after {probe} GFLOP/s, CPU pressure "
                        f"{'n/a' if pressure is None else f'{pressure:.0%}'})"
                    )
                print(f"[{label} round {r + 1}/{args.rounds}] ({key}) {msg}", file=sys.stderr)
        if not _clean_gemm(gemm, args.max_pressure):  # every GEMM attempt was contended
            print(f"[{label}] GEMM peak not measured cleanly yet: once more", file=sys.stderr)
            gemm.append(run_child(spec_path, "gemm", args))
    finally:
        os.unlink(spec_path)

    fpt = flop_per_token(config["cell"], args.input_size, args.hidden, config["layers"], 2)
    factor = 3 if mode == "train" else 1
    # the physical limit: the best GEMM rate seen in any round or attempt (best chunk within a
    # process); contention can only lower it
    ok_gemm = _clean_gemm(gemm, args.max_pressure) or _clean_gemm(gemm, float("inf"))
    gemm_clean = bool(_clean_gemm(gemm, args.max_pressure))
    peak = {
        name: max((g[name] for g in ok_gemm), default=None)
        for name in ("mm_1024", "mm_step_64x128x512")
    }
    rows = []
    for key in keys:
        runs = [x for x in per_row[key] if "error" not in x]
        errors = [x["error"] for x in per_row[key] if "error" in x]
        desc, batching, pad, impl, execution, flush, slow, want_state = ROWS[key]
        row = {
            "row": key,
            "description": desc,
            "batching": batching,
            "padding": f"to cap {args.cap}" if pad == "cap" else "to batch max",
            "implementation": impl,
            "execution": execution,
            "return_state": want_state if impl == "padless" else None,
            "flush_denormal": flush,
            "slow_row": slow and mode == "train",
            "rounds": runs,
            "errors": errors,
        }
        if runs:
            tps = [x["tokens_per_s"] for x in runs]
            med = statistics.median(tps)
            row.update(
                batches_timed=runs[0]["batches"],
                batches_total=len(plans[batching]),
                real_tokens=runs[0]["real_tokens"],
                padded_steps=runs[0]["padded_steps"],
                pad_share=1 - runs[0]["real_tokens"] / runs[0]["padded_steps"],
                tokens_per_s=med,
                tokens_per_s_min=min(tps),
                tokens_per_s_max=max(tps),
                spread=(max(tps) - min(tps)) / med,
                seconds_median=statistics.median(x["seconds"] for x in runs),
                peak_mb=statistics.median(x["peak_mb"] for x in runs),
                cpu_pressure=_median(
                    [x["cpu_pressure"] for x in runs if x["cpu_pressure"] is not None]
                ),
                achieved_gflops=med * fpt * factor / 1e9,
            )
            if peak["mm_1024"]:
                row["share_of_gemm"] = med * fpt * factor / peak["mm_1024"]
        rows.append(row)
    by_key = {r["row"]: r for r in rows if "tokens_per_s" in r}
    for r in rows:
        for ref in ("a", "b", "c"):
            if "tokens_per_s" in r and ref in by_key:
                r[f"x_{ref}"] = r["tokens_per_s"] / by_key[ref]["tokens_per_s"]
    checks = []
    if "d" in by_key:
        for ref, need in TARGETS if mode == "train" else INFERENCE_TARGETS:
            if ref in by_key:
                got = by_key["d"][f"x_{ref}"]
                checks.append(
                    {"check": f"(d) >= {need:g}x ({ref})", "ratio": got, "pass": got >= need}
                )
    efficiency = None
    if "d" in by_key and peak["mm_1024"]:
        achieved = by_key["d"]["achieved_gflops"] * 1e9
        efficiency = {
            "flop_per_token_forward": fpt,
            "flop_per_token_counted": fpt * factor,
            "achieved_flops": achieved,
            "ratio_vs_mm_1024": achieved / peak["mm_1024"],
            "ratio_vs_mm_step": achieved / peak["mm_step_64x128x512"],
            "target": GEMM_TARGET,
            "stretch": GEMM_STRETCH,
            "pass": achieved / peak["mm_1024"] >= GEMM_TARGET,
            "stretch_pass": achieved / peak["mm_1024"] >= GEMM_STRETCH,
        }
    hashes = sorted(
        {x["padless_source_sha256"] for k in keys for x in per_row[k] if "error" not in x}
    )
    contention = []
    for key in keys:
        for i, x in enumerate(per_row[key]):
            pressure = x.get("cpu_pressure")
            if pressure is not None and pressure > args.max_pressure:
                contention.append(f"({key}) round {i + 1} ({pressure:.0%})")
    return {
        "padless_source_sha256": hashes,
        "contention": contention,
        "config": {
            **config,
            "bidirectional": True,
            "input_size": args.input_size,
            "hidden": args.hidden,
            "batch_size": args.batch_size,
            "cap": args.cap,
            "reviews": len(subset["lengths"]),
            "subset_real_tokens": int(sum(subset["lengths"])),
            "seed": args.seed,
            "rounds": args.rounds,
            "slow_batches": args.slow_batches or "all",
            "slow_rounds": args.slow_rounds,
            "child_env": args.env,
            "nonlinearity": args.nonlinearity if config["cell"] == "rnn" else None,
            "step": (
                "encoder -> masked mean -> Linear -> BCEWithLogitsLoss -> backward -> AdamW step"
                if mode == "train"
                else "encoder -> masked mean -> Linear -> BCEWithLogitsLoss under no_grad"
            ),
        },
        "gemm_rounds": gemm,
        "gemm_peak_flops": peak,
        "gemm_peak_clean": gemm_clean,
        "rows": rows,
        "skipped": skipped,
        "checks": checks,
        "efficiency": efficiency,
    }


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _fmt_ratio(row: dict, ref: str) -> str:
    value = row.get(f"x_{ref}")
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def print_table(table: dict) -> None:
    c = table["config"]
    title = "training" if c["mode"] == "train" else "inference (no_grad)"
    print()
    print(
        f"Bi{c['cell'].upper()} {title}: {c['layers']} layer(s), I={c['input_size']}, "
        f"H={c['hidden']}, batch {c['batch_size']}, cap {c['cap']}; {c['reviews']} IMDB train "
        f"reviews (seed {c['seed']}, {c['subset_real_tokens']:,} real tokens); "
        f"median of {c['rounds']} interleaved rounds"
        + (
            f" ({c['slow_rounds']} for the slow rows a, b, f, h)"
            if c["mode"] == "train" and c["slow_rounds"] < c["rounds"]
            else ""
        )
    )
    print(f"step: {c['step']}")
    if c["child_env"]:
        print(
            "environment of the measured processes: "
            + " ".join(f"{k}={v}" for k, v in c["child_env"].items())
        )
    print(
        "columns: timed = batches timed / in the plan; runs = rounds measured; pad = padding "
        "share of the batch tensors;\n  spread = (max - min) / median over runs; psi = CPU "
        "pressure (share of time a task waited for a CPU); x(r) = tokens/s ratio to row r;\n"
        "  peak MB = peak RSS above the process's baseline; GFLOP/s = achieved, from the "
        "BRIEF FLOP count;\n  /GEMM = achieved GFLOP/s / dense 1024^3 fp32 GEMM of the same run"
    )
    head = (
        f"{'row':4} {'path':31} {'batches':8} {'flush':5} {'timed':>7} {'runs':>4} "
        f"{'real tokens':>11} {'pad':>4} {'tokens/s':>9} {'spread':>6} {'psi':>4} "
        f"{'x(a)':>6} {'x(b)':>6} {'x(c)':>5} {'peak MB':>7} {'GFLOP/s':>7} {'/GEMM':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in table["rows"]:
        if "tokens_per_s" not in r:
            print(f"({r['row']})  {r['description']:31} ERROR: {'; '.join(r['errors'])[:200]}")
            continue
        timed = f"{r['batches_timed']}/{r['batches_total']}"
        print(
            f"({r['row']})  {r['description']:31} {r['batching']:8} "
            f"{'on' if r['flush_denormal'] else 'OFF':5} {timed:>7} {len(r['rounds']):>4} "
            f"{r['real_tokens']:>11,} "
            f"{r['pad_share']:4.0%} {r['tokens_per_s']:>9,.0f} {r['spread']:6.0%} "
            f"{_fmt_pct(r.get('cpu_pressure')):>4} "
            f"{_fmt_ratio(r, 'a'):>6} {_fmt_ratio(r, 'b'):>6} {_fmt_ratio(r, 'c'):>5} "
            f"{r['peak_mb']:7.0f} {r['achieved_gflops']:7.1f} "
            f"{_fmt_pct(r.get('share_of_gemm')):>5}"
        )
    for key, why in table["skipped"].items():
        print(f"({key})  skipped: {why}")
    if len(table["padless_source_sha256"]) > 1:
        print(
            "warning: the padless sources (models/encoder.py, nn/kernels.py, nn/csrc) "
            f"changed during this table: {table['padless_source_sha256']}; rerun for a "
            "consistent comparison"
        )
    kernel = [
        x["padless_kernel"]
        for r in table["rows"]
        for x in r["rounds"]
        if x.get("padless_kernel") is not None
    ]
    if kernel:
        k = kernel[0]
        status = "built" if k["available"] else f"NOT available ({k['reason']})"
        print(f"padless fused C++ LSTM kernel (padless.nn.kernels): {status}")
    if table["contention"]:
        print(
            "warning: CPU pressure (PSI, share of time a task waited for a CPU) still high in "
            + ", ".join(table["contention"])
            + " after retries: a neighbour was using the CPU"
        )
    peak = table["gemm_peak_flops"]
    if peak["mm_1024"]:
        print(
            f"dense fp32 GEMM here (best of rounds): 1024^3 {peak['mm_1024'] / 1e9:.0f} GFLOP/s, "
            f"64x128 @ 128x512 {peak['mm_step_64x128x512'] / 1e9:.0f} GFLOP/s "
            f"(threads {table['gemm_rounds'][0].get('threads')})"
        )
        if not table["gemm_peak_clean"]:
            print(
                "warning: every GEMM attempt ran under CPU pressure: the peak is too low and the "
                "efficiency ratio below is not meaningful; rerun"
            )
    for chk in table["checks"]:
        print(f"target {chk['check']:18} {chk['ratio']:7.2f}x  {'PASS' if chk['pass'] else 'FAIL'}")
    eff = table["efficiency"]
    if eff:
        verdict = "PASS" if eff["pass"] else "FAIL"
        stretch = "PASS" if eff["stretch_pass"] else "FAIL"
        print(
            f"target (d) >= {eff['target']:.0%} of GEMM: {eff['flop_per_token_counted'] / 1e6:.2f} "
            f"MFLOP/token x {table_row(table, 'd')['tokens_per_s']:,.0f} tok/s = "
            f"{eff['achieved_flops'] / 1e9:.1f} GFLOP/s = {eff['ratio_vs_mm_1024']:.1%} of 1024^3 "
            f"{verdict} (stretch {eff['stretch']:.0%}: {stretch}); "
            f"{eff['ratio_vs_mm_step']:.1%} of the step-shape GEMM"
        )


def table_row(table: dict, key: str) -> dict:
    return next(r for r in table["rows"] if r["row"] == key)


def _git(*cmd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *cmd], cwd=ROOT.parent, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="IMDB (CSV, tarball or folder)")
    ap.add_argument("--rows", type=int, default=1280, help="IMDB train reviews in the subset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=512, help="truncate lengths to this many tokens")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    ap.add_argument(
        "--cells", default="", help="several cells in one run, e.g. lstm,gru,rnn (one table each)"
    )
    ap.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh", help="rnn only")
    ap.add_argument("--layers", type=int, choices=(1, 2), default=1)
    ap.add_argument("--inference", action="store_true", help="forward only, under no_grad")
    ap.add_argument(
        "--all", action="store_true", help="LSTM, GRU, 2-layer LSTM training + inference"
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--slow-batches", type=int, default=0, help="batches timed in rows a, b, f (0: all)"
    )
    ap.add_argument("--slow-rounds", type=int, default=1, help="rounds that run rows a, b, f")
    ap.add_argument("--only", default="abcdefgij", help="rows to run, e.g. 'abcd'")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--child-timeout", type=float, default=900.0)
    ap.add_argument(
        "--max-pressure",
        type=float,
        default=0.25,
        help="rerun a row whose timed region saw more CPU pressure (PSI some share) than this",
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=2,
        help="reruns per (row, round), see above (at most 1 for the slow training rows)",
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="before each measured process, wait up to this many seconds for the 10 s CPU "
        "pressure average to drop below max-pressure / 2",
    )
    ap.add_argument(
        "--child-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for every measured process (repeatable), e.g. "
        "MALLOC_MMAP_THRESHOLD_=33554432 to test glibc malloc settings",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 256 reviews, 1 round")
    ap.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="measure the live src/padless instead of a copy taken at the start",
    )
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--row", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:  # a measured process: never starts further processes
        child_main(args.child, args.row)
        return
    if os.environ.get("PADLESS_BENCH_CHILD"):
        raise SystemExit("train_throughput: a measured process must not start a benchmark")
    if args.quick:
        args.rows, args.rounds, args.slow_batches = min(args.rows, 256), 1, 1
        if args.out == str(DEFAULT_OUT):
            args.out = str(DEFAULT_OUT.with_name("train_throughput.quick.json"))
    args.only = [k for k in args.only.replace(",", "") if k in ROWS]
    args.env = dict(item.split("=", 1) for item in args.child_env)

    start = time.perf_counter()
    import torch

    snapshot_root, source_hash = None, padless_source_sha256()
    if args.snapshot:
        snapshot_root, source_hash = snapshot_padless(args.env)
        t0 = time.perf_counter()
        build = _run_child_once("-", "build", args.child_timeout, args.env)
        print(
            f"padless sources snapshot {source_hash} in {snapshot_root}; kernel: {build} "
            f"({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )

    contract = _encoder_contract()
    subset = load_subset(args)
    lengths = np.asarray(subset["lengths"], dtype=np.int64)
    plans = batch_plans(lengths, args)
    if args.all:
        configs = [
            {"cell": "lstm", "layers": 1, "mode": "train"},
            {"cell": "gru", "layers": 1, "mode": "train"},
            {"cell": "rnn", "layers": 1, "mode": "train"},
            {"cell": "lstm", "layers": 2, "mode": "train"},
            {"cell": "lstm", "layers": 1, "mode": "inference"},
            {"cell": "gru", "layers": 1, "mode": "inference"},
            {"cell": "rnn", "layers": 1, "mode": "inference"},
        ]
    else:
        mode = "inference" if args.inference else "train"
        cells = [c for c in args.cells.split(",") if c] or [args.cell]
        bad = [c for c in cells if c not in FLOP_FACTOR]
        if bad:
            raise SystemExit(f"--cells: expected lstm, gru or rnn, got {bad}")
        configs = [{"cell": c, "layers": args.layers, "mode": mode} for c in cells]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_model()}; "
        f"RecurrentEncoder execution= {'present' if contract['execution'] else 'ABSENT'}",
        file=sys.stderr,
    )
    tables = []
    try:
        for config in configs:
            table = run_table(config, subset, plans, args, contract)
            tables.append(table)
            print_table(table)
    finally:
        if snapshot_root is not None:
            shutil.rmtree(snapshot_root, ignore_errors=True)
    total = time.perf_counter() - start
    print(f"\ntotal wall time {total:.0f} s")

    result = {
        "benchmark": "train_throughput",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "total_seconds": total,
        "environment": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "threads": args.threads or torch.get_num_threads(),
            "cpu_model": cpu_model(),
            "cpu_flags": cpu_flags(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "git_head": _git("rev-parse", "HEAD"),
            "padless_sources_modified": bool(_git("status", "--porcelain", "src/padless")),
            "padless_source_sha256": source_hash,
            "padless_snapshot": bool(args.snapshot),
            "encoder_contract": contract,
            "child_env": args.env,
        },
        "metric": "real tokens (sum of lengths) per second over whole timed batches",
        "subset": {
            "reviews": len(subset["lengths"]),
            "real_tokens": int(lengths.sum()),
            "review_ids_sha256": hashlib.sha256(str(subset["review_ids"]).encode()).hexdigest(),
        },
        "tables": tables,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
