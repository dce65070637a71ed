"""Serving under load: ``padless serve`` with micro-batching against ``--no-batching``, one run.

    .venv/bin/python benchmarks/serve_load.py --model runs/imdb/model    # a trained artifact
    .venv/bin/python benchmarks/serve_load.py                             # trains one first
    .venv/bin/python benchmarks/serve_load.py --quick                     # smoke run

Without ``--model`` it first trains ``configs/imdb-sample.toml`` into ``--out``. Two real
servers run on loopback as subprocesses (``python -m padless serve``): A with batching on
(``--max-wait-ms``), B with ``--no-batching`` (every request its own model call). Request texts
are IMDB test reviews from ``--data`` cut to their first ``--max-words`` whitespace words
(default 64): short inputs, like chat messages or sensor windows, where one model call per
request wastes the most. Request ``i`` carries ``--inputs-per-request`` texts picked by ``i``
from a fixed list, so every expected answer is computed once, offline, by the eager model in
this process; a response is a mismatch unless each label is equal and each score is within
``--tol`` of it. Errors are non-200 answers and exceptions.

For each ``--concurrency`` level, B then A get a bounded load: at most ``--requests`` requests
and at most ``--seconds`` seconds (no new request after that). The load comes from a separate
client process (asyncio + ``httpx.AsyncClient``, ``c`` connections, ``c`` closed-loop workers
sending back to back). Per level and server: requests, errors, mismatches, requests/s, inputs/s,
p50 / p99 latency in ms, and the mean inputs per model call from each server's ``/metrics``
(``padless_batch_inputs``). Targets (issue): at 32 concurrent callers, A's throughput ≥ 4× B's
with A's p99 ≤ 100 ms; ≥ 20,000 requests in the run (both servers) with 0 errors and 0
mismatches. Prints a table and PASS / FAIL per target, and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "imdb" / "imdb.csv.gz"
_CLIENT: dict = {}  # the client process's request bodies and expected predictions


def train_model(args) -> Path:
    out = Path(args.out) / "run"
    cmd = [sys.executable, "-m", "padless", "-q", "train", str(ROOT / "configs/imdb-sample.toml")]
    cmd += ["--out", str(out)]
    print("training:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "CI": "1"})
    return out / "model"


def request_texts(args) -> list[str]:
    from padless.datasets import imdb, imdb_sample

    data = imdb(args.data, splits=("test",), progress=False) if Path(args.data).exists() else None
    texts = (data or imdb_sample().split("test")).texts
    order = np.random.default_rng(args.seed).permutation(len(texts))[: args.texts]
    return [" ".join(texts[i].split()[: args.max_words]) for i in order]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, extra: list[str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "padless", "serve", str(model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *extra]
    print("starting:", " ".join(cmd), flush=True)
    with open(log, "wb") as f:
        return subprocess.Popen(
            cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "CI": "1"}
        )


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server {url} exited ({proc.returncode}):\n{log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server {url} not ready after {timeout:.0f} s:\n{log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def batch_counters(url: str) -> tuple[float, float]:
    """(sum, count) of the ``padless_batch_inputs`` histogram in the server's /metrics."""
    total = {"padless_batch_inputs_sum": 0.0, "padless_batch_inputs_count": 0.0}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        parts = line.split()
        name = parts[0].split("{")[0] if parts else ""
        if name in total:
            total[name] += float(parts[-1])
    return total["padless_batch_inputs_sum"], total["padless_batch_inputs_count"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the client process --------------------------------------------------------------------


def _client_init(bodies: list[bytes], expected: list[list[dict]], tol: float) -> None:
    _CLIENT.update(bodies=bodies, expected=expected, tol=tol)


def _same(got: dict, want: dict, tol: float) -> bool:
    scores = got.get("scores") or {}
    return (
        got.get("label") == want["label"]
        and scores.keys() == want["scores"].keys()
        and all(abs(scores[k] - v) <= tol for k, v in want["scores"].items())
    )


async def _load(url: str, c: int, n: int, seconds: float) -> dict:
    bodies, expected, tol = _CLIENT["bodies"], _CLIENT["expected"], _CLIENT["tol"]
    out = {"latencies_ms": [], "errors": 0, "mismatches": 0, "error_samples": []}
    indices = iter(range(n))  # shared by the workers: request i is body i mod len(bodies)
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, headers=headers) as cl:

        async def worker() -> None:
            for i in indices:
                if time.perf_counter() > deadline:
                    break
                s = i % len(bodies)
                t = time.perf_counter()
                try:
                    r = await cl.post("/v1/predict", content=bodies[s])
                    status, preds = r.status_code, r.json().get("predictions")
                except Exception as exc:  # counted, never raised: the load goes on
                    status, preds = repr(exc), None
                out["latencies_ms"].append((time.perf_counter() - t) * 1e3)
                if status != 200:
                    out["errors"] += 1
                    if len(out["error_samples"]) < 5:
                        out["error_samples"].append(f"{status}: {str(preds)[:200]}")
                elif len(preds) != len(expected[s]) or not all(
                    _same(g, w, tol) for g, w in zip(preds, expected[s], strict=False)
                ):
                    out["mismatches"] += 1

        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(*(worker() for _ in range(c)))
        out["seconds"] = time.perf_counter() - t0
    return out


def _run_level(url: str, c: int, n: int, seconds: float) -> dict:
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=factory) as runner:
        out = runner.run(_load(url, c, n, seconds))
    return {**out, "client_cpu_s": time.process_time() - cpu}


# --- the run -------------------------------------------------------------------------------


def level(pool, url: str, pid: int, c: int, args) -> dict:
    s0, n0 = batch_counters(url)
    cpu = cpu_seconds(pid)
    raw = pool.apply(_run_level, (url, c, args.requests, args.seconds))
    cpu = cpu_seconds(pid) - cpu
    s1, n1 = batch_counters(url)
    lat = np.array(raw["latencies_ms"]) if raw["latencies_ms"] else np.zeros(1)
    done = len(raw["latencies_ms"])
    return {
        "concurrency": c,
        "requests": done,
        "errors": raw["errors"],
        "mismatches": raw["mismatches"],
        "seconds": raw["seconds"],
        "req_per_s": done / raw["seconds"],
        "inputs_per_s": done * args.inputs_per_request / raw["seconds"],
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "mean_batch": (s1 - s0) / (n1 - n0) if n1 > n0 else 0.0,
        "server_cpu_s": cpu,  # includes its /metrics answers
        "client_cpu_s": raw["client_cpu_s"],
        "error_samples": raw["error_samples"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained text artifact (DIR/model); default: train one")
    ap.add_argument("--data", default=str(SHARED), help="IMDB CSV (else the packaged sample)")
    ap.add_argument("--out", default="/tmp/padless-serve-load")
    ap.add_argument("--max-words", type=int, default=64, help="cut each review to N words")
    ap.add_argument("--texts", type=int, default=2000, help="distinct request texts")
    ap.add_argument("--concurrency", default=None, help="default 1,2,4,8,16,32,64")
    ap.add_argument("--requests", type=int, default=None, help="per level and server (2000)")
    ap.add_argument("--seconds", type=float, default=None, help="per level and server (30)")
    ap.add_argument("--inputs-per-request", type=int, default=1)
    ap.add_argument("--port", type=int, default=None, help="A on PORT, B on PORT+1 (default: free)")
    ap.add_argument("--max-wait-ms", type=float, default=None, help="for the batching server")
    ap.add_argument("--warmup", type=int, default=200, help="untimed requests per server")
    ap.add_argument("--tol", type=float, default=1e-4, help="score tolerance vs offline eager")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="concurrency 1,8,32, few requests")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = ap.parse_args()
    quick = {"concurrency": "1,8,32", "requests": 300, "seconds": 5.0}
    full = {"concurrency": "1,2,4,8,16,32,64", "requests": 2000, "seconds": 30.0}
    for name, value in (quick if args.quick else full).items():
        setattr(args, name, getattr(args, name) or value)
    levels = [int(x) for x in args.concurrency.split(",")]

    import torch

    import padless

    Path(args.out).mkdir(parents=True, exist_ok=True)
    model_dir = Path(args.model) if args.model else train_model(args)
    texts = request_texts(args)
    expected_each = padless.load(model_dir).predict(texts)
    k = args.inputs_per_request
    slots = [[(s * k + j) % len(texts) for j in range(k)] for s in range(len(texts))]
    bodies = [json.dumps({"inputs": [texts[t] for t in slot]}).encode() for slot in slots]
    expected = [[expected_each[t] for t in slot] for slot in slots]

    work = Path(tempfile.mkdtemp(prefix="servers-", dir=args.out))
    port_a = args.port or free_port()
    port_b = port_a + 1 if args.port else free_port()
    extra_a = ["--max-wait-ms", str(args.max_wait_ms)] if args.max_wait_ms is not None else []
    extra = ["--max-inputs", str(k)] if k > 256 else []  # the server's default is 256
    servers = {
        "batching": (port_a, extra_a + extra),
        "no-batching": (port_b, ["--no-batching"] + extra),
    }
    procs, urls, rows = {}, {}, []
    ctx = mp.get_context("spawn")
    try:
        for mode, (port, flags) in servers.items():
            procs[mode] = start_server(model_dir, port, flags, work / f"{mode}.log")
            urls[mode] = f"http://127.0.0.1:{port}"
        for mode, proc in procs.items():
            wait_ready(proc, urls[mode], work / f"{mode}.log")
        with ctx.Pool(1, _client_init, (bodies, expected, args.tol)) as pool:
            for url in urls.values():
                pool.apply(_run_level, (url, 8, args.warmup, 60.0))
            for c in levels:
                for mode in ("no-batching", "batching"):
                    row = {"mode": mode, **level(pool, urls[mode], procs[mode].pid, c, args)}
                    rows.append(row)
                    print(f"c={c} {mode}: {row['req_per_s']:.0f} req/s", flush=True)
    finally:
        for proc in procs.values():
            stop_server(proc)

    base = {r["concurrency"]: r for r in rows if r["mode"] == "no-batching"}
    for r in rows:
        r["throughput_ratio"] = r["req_per_s"] / base[r["concurrency"]]["req_per_s"]
    print()
    head = f"{'conc':>4s} {'server':11s} {'reqs':>6s} {'err':>4s} {'mism':>4s} {'req/s':>8s}"
    head += f" {'inputs/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'batch':>6s} {'tput x':>6s}"
    print(head + f" {'srv cpu':>7s} {'cli cpu':>7s}")
    for r in rows:
        print(
            f"{r['concurrency']:4d} {r['mode']:11s} {r['requests']:6d} {r['errors']:4d} "
            f"{r['mismatches']:4d} {r['req_per_s']:8.1f} {r['inputs_per_s']:9.1f} "
            f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['mean_batch']:6.2f} "
            f"{r['throughput_ratio']:6.2f} {r['server_cpu_s']:7.2f} {r['client_cpu_s']:7.2f}"
        )
    at32 = next((r for r in rows if r["mode"] == "batching" and r["concurrency"] == 32), None)
    totals = {x: sum(r[x] for r in rows) for x in ("requests", "errors", "mismatches")}
    targets = {
        "throughput_x_at_32>=4": (at32 and at32["throughput_ratio"], lambda v: v >= 4),
        "p99_ms_at_32<=100": (at32 and at32["p99_ms"], lambda v: v <= 100),
        "total_requests>=20000": (totals["requests"], lambda v: v >= 20000),
        "total_errors==0": (totals["errors"], lambda v: v == 0),
        "total_mismatches==0": (totals["mismatches"], lambda v: v == 0),
    }
    summary = {**totals, "targets": {}}
    print()
    for name, (value, ok) in targets.items():
        passed = value is not None and bool(ok(value))
        summary["targets"][name] = {"value": value, "pass": passed}
        shown = "n/a (no level 32)" if value is None else f"{value:.4g}"
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {shown}")
    result = {
        "meta": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "httpx": httpx.__version__,
            "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"),
            "model": str(model_dir),
            "texts": len(texts),
            "args": vars(args),
        },
        "rows": rows,
        "summary": summary,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("wrote", args.json)


if __name__ == "__main__":
    main()
