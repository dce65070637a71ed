"""Serving under load: ``padless serve`` with micro-batching against ``--no-batching``, one run.

    .venv/bin/python benchmarks/serve_load.py --model runs/imdb/model    # a trained artifact
    .venv/bin/python benchmarks/serve_load.py                             # trains one first
    .venv/bin/python benchmarks/serve_load.py --quick                     # smoke run

Without ``--model`` it first trains ``configs/imdb-sample.toml`` into ``--out``. Two real
servers run on loopback as subprocesses (``python -m padless serve``, CI=1): A with batching on
(``--max-wait-ms``), B with ``--no-batching`` (one model call per request). Request texts are
IMDB test reviews from ``--data`` cut to their first ``--max-words`` whitespace words (default
64): short inputs, like chat messages or sensor windows, where a model call per request wastes
the most. Request ``i`` carries ``--inputs-per-request`` texts picked by ``i`` from a fixed list,
so every expected answer is computed once, offline, by the eager model in this process; a 200
answer is a mismatch unless every label is equal and every score within ``--tol``. Errors are
non-200 answers and exceptions.

Per ``--concurrency`` level, B then A get a bounded load: at most ``--requests`` requests and
``--seconds`` seconds (no new request after that), from a separate client process: ``c``
closed-loop asyncio workers, each on its own keep-alive connection, sending back to back
(``--client httpx``: one ``httpx.AsyncClient`` with ``c`` connections, which costs the client
1-4 ms of CPU a request, more than the server's work on 2 cores; encode/httpx#3215). Reported
per level and server: requests, errors, mismatches, requests/s, inputs/s, p50 / p99 latency
(ms), the mean inputs per model call (``padless_batch_inputs`` in ``/metrics``) and the CPU
seconds of server and client. Targets (issue): at 32 callers, A's throughput ≥ 4× B's and A's
p99 ≤ 100 ms; ≥ 20,000 requests in the run (both servers), 0 errors, 0 mismatches. Prints a
table and PASS / FAIL per target, and writes JSON (``--json``).
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
_CLIENT: dict = {}  # in the client process: request bodies, expected predictions, settings


def train_model(args) -> Path:
    out = Path(args.out) / "run"
    cmd = [sys.executable, "-m", "padless", "-q", "train", str(ROOT / "configs/imdb-sample.toml")]
    cmd += ["--overwrite"]  # a rerun replaces the previous training
    print("training:", " ".join(cmd + ["--out", str(out)]), flush=True)
    subprocess.run(cmd + ["--out", str(out)], check=True, env={**os.environ, "CI": "1"})
    return out / "model"


def request_texts(args) -> list[str]:
    from padless.data.imdb import imdb, imdb_sample

    data = imdb(args.data, splits=("test",), progress=False) if Path(args.data).exists() else None
    texts = (data or imdb_sample().split("test")).texts
    order = np.random.default_rng(args.seed).permutation(len(texts))[: args.texts]
    return [" ".join(texts[i].split()[: args.max_words]) for i in order]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, flags: list[str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "padless", "serve", str(model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *flags]
    print("starting:", " ".join(cmd), flush=True)
    with open(log, "wb") as f:
        env = {**os.environ, "CI": "1"}
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server {url} not ready ({proc.poll()=}):\n{log.read_text()[-2000:]}")


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
        if parts and parts[0].split("{")[0] in total:
            total[parts[0].split("{")[0]] += float(parts[-1])
    return total["padless_batch_inputs_sum"], total["padless_batch_inputs_count"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the client process --------------------------------------------------------------------


def _client_init(settings: dict) -> None:
    _CLIENT.update(settings)


def _same(got: dict, want: dict, tol: float) -> bool:
    scores = got.get("scores") or {}
    return (
        got.get("label") == want["label"]
        and scores.keys() == want["scores"].keys()
        and all(abs(scores[k] - v) <= tol for k, v in want["scores"].items())
    )


class RawClient:
    """One keep-alive HTTP/1.1 connection that POSTs /v1/predict (about 0.1 ms of CPU a call)."""

    def __init__(self, host: str, port: str):
        self.addr, self.conn = (host, int(port)), None
        self.head = f"POST /v1/predict HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json"

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            if self.conn is None:
                self.conn = await asyncio.open_connection(*self.addr)
            reader, writer = self.conn
            writer.write(f"{self.head}\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields = dict(x.lower().split(":", 1) for x in lines[1:] if ":" in x)
            data = await reader.readexactly(int(fields["content-length"]))
            if fields.get("connection", "").strip() == "close":
                self.close()
            return int(lines[0].split()[1]), data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn[1].close()
            self.conn = None


async def _load(url: str, c: int, n: int, seconds: float) -> dict:
    bodies, expected, tol = _CLIENT["bodies"], _CLIENT["expected"], _CLIENT["tol"]
    out = {"latencies_ms": [], "errors": 0, "mismatches": 0, "error_samples": []}
    indices = iter(range(n))  # shared by the workers: request i sends body i mod len(bodies)
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as hx:

        async def via_httpx(body: bytes) -> tuple[int, bytes]:
            r = await hx.post(
                "/v1/predict", content=body, headers={"content-type": "application/json"}
            )
            return r.status_code, r.content

        async def worker() -> None:
            raw = RawClient(*url.split("//")[1].split(":"))
            post = raw.post if _CLIENT["kind"] == "raw" else via_httpx
            for i in indices:
                if time.perf_counter() > deadline:
                    break
                s, t = i % len(bodies), time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(post(bodies[s]), 60)
                    preds = json.loads(data)["predictions"] if status == 200 else None
                except Exception as exc:  # counted, never raised: the load goes on
                    status, data, preds = "exception", repr(exc).encode(), None
                out["latencies_ms"].append((time.perf_counter() - t) * 1e3)
                if status != 200:
                    out["errors"] += 1
                    if len(out["error_samples"]) < 5:
                        out["error_samples"].append(f"{status}: {data[:200].decode('latin-1')}")
                elif len(preds) != len(expected[s]) or not all(
                    _same(g, w, tol) for g, w in zip(preds, expected[s], strict=False)
                ):
                    out["mismatches"] += 1
            raw.close()

        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(*(worker() for _ in range(c)))
        out["seconds"] = time.perf_counter() - t0
    return out


def _run_level(url: str, c: int, n: int, seconds: float) -> dict:
    try:
        from uvloop import new_event_loop
    except ImportError:
        new_event_loop = None
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        out = runner.run(_load(url, c, n, seconds))
    return {**out, "client_cpu_s": time.process_time() - cpu}


# --- the run -------------------------------------------------------------------------------


def level(pool, url: str, pid: int, c: int, args) -> dict:
    (s0, n0), cpu = batch_counters(url), cpu_seconds(pid)
    raw = pool.apply(_run_level, (url, c, args.requests, args.seconds))
    cpu, (s1, n1) = cpu_seconds(pid) - cpu, batch_counters(url)
    lat, secs = raw.pop("latencies_ms"), raw["seconds"]
    done, lat = len(lat), lat or [float("nan")]
    return {
        "concurrency": c,
        "requests": done,
        **{k: raw[k] for k in ("errors", "mismatches", "seconds")},
        "req_per_s": done / secs,
        "inputs_per_s": done * args.inputs_per_request / secs,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "mean_batch": (s1 - s0) / (n1 - n0) if n1 > n0 else 0.0,
        "server_cpu_s": cpu,  # includes the two /metrics answers
        **{k: raw[k] for k in ("client_cpu_s", "error_samples")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained text artifact (DIR/model); default: train one")
    ap.add_argument("--data", default=str(SHARED), help="IMDB CSV (else the packaged sample)")
    ap.add_argument("--out", default="/tmp/padless-serve-load")
    ap.add_argument("--max-words", type=int, default=64, help="cut each review to N words")
    ap.add_argument("--texts", type=int, default=2000, help="distinct request texts")
    ap.add_argument("--concurrency", help="default 1,2,4,8,16,32,64 (--quick: 1,8,32)")
    ap.add_argument("--requests", type=int, help="per level and server (2000; --quick 300)")
    ap.add_argument("--seconds", type=float, help="per level and server (30; --quick 5)")
    ap.add_argument("--inputs-per-request", type=int, default=1)
    ap.add_argument("--port", type=int, help="A on PORT, B on PORT+1 (default: free ports)")
    ap.add_argument("--max-wait-ms", type=float, help="for the batching server")
    ap.add_argument("--warmup", type=int, default=200, help="untimed requests per server")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator")
    ap.add_argument("--tol", type=float, default=1e-4, help="score tolerance vs offline eager")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="concurrency 1,8,32, few requests")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = ap.parse_args()
    defaults = ("1,8,32", 300, 5.0) if args.quick else ("1,2,4,8,16,32,64", 2000, 30.0)
    for name, value in zip(("concurrency", "requests", "seconds"), defaults, strict=True):
        setattr(args, name, getattr(args, name) or value)
    levels = [int(x) for x in args.concurrency.split(",")]

    import torch

    import padless

    Path(args.out).mkdir(parents=True, exist_ok=True)
    model_dir = Path(args.model) if args.model else train_model(args)
    texts = request_texts(args)
    each = padless.load(model_dir).predict(texts)
    k = args.inputs_per_request
    slots = [[(s * k + j) % len(texts) for j in range(k)] for s in range(len(texts))]
    bodies = [json.dumps({"inputs": [texts[t] for t in slot]}).encode() for slot in slots]
    expected = [[each[t] for t in slot] for slot in slots]

    work = Path(tempfile.mkdtemp(prefix="servers-", dir=args.out))
    port_a = args.port or free_port()
    port_b = port_a + 1 if args.port else free_port()
    flags = ["--max-inputs", str(k)] if k > 256 else []  # the server's default is 256
    wait = ["--max-wait-ms", str(args.max_wait_ms)] if args.max_wait_ms is not None else []
    servers = {
        "batching": (port_a, flags + wait),
        "no-batching": (port_b, flags + ["--no-batching"]),
    }
    procs, urls, rows = {}, {}, []
    try:
        for mode, (port, extra) in servers.items():
            procs[mode] = start_server(model_dir, port, extra, work / f"{mode}.log")
            urls[mode] = f"http://127.0.0.1:{port}"
        for mode, proc in procs.items():
            wait_ready(proc, urls[mode], work / f"{mode}.log")
        init = {"bodies": bodies, "expected": expected, "tol": args.tol, "kind": args.client}
        with mp.get_context("spawn").Pool(1, _client_init, (init,)) as pool:
            for url in urls.values():
                pool.apply(_run_level, (url, 8, args.warmup, 60.0))
            for c in levels:
                for mode in ("no-batching", "batching"):
                    rows.append({"mode": mode, **level(pool, urls[mode], procs[mode].pid, c, args)})
                    print(f"c={c} {mode}: {rows[-1]['req_per_s']:.0f} req/s", flush=True)
    finally:
        for proc in procs.values():
            stop_server(proc)

    base = {r["concurrency"]: r["req_per_s"] for r in rows if r["mode"] == "no-batching"}
    print(
        f"\n{'conc':>4s} {'server':11s} {'reqs':>6s} {'err':>4s} {'mism':>4s} {'req/s':>8s} "
        f"{'inputs/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'batch':>6s} {'tput x':>6s} "
        f"{'srv cpu':>7s} {'cli cpu':>7s}"
    )
    for r in rows:
        r["throughput_ratio"] = r["req_per_s"] / base[r["concurrency"]]
        print(
            f"{r['concurrency']:4d} {r['mode']:11s} {r['requests']:6d} {r['errors']:4d} "
            f"{r['mismatches']:4d} {r['req_per_s']:8.1f} {r['inputs_per_s']:9.1f} "
            f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['mean_batch']:6.2f} "
            f"{r['throughput_ratio']:6.2f} {r['server_cpu_s']:7.2f} {r['client_cpu_s']:7.2f}"
        )
    at32 = next((r for r in rows if r["mode"] == "batching" and r["concurrency"] == 32), {})
    totals = {x: sum(r[x] for r in rows) for x in ("requests", "errors", "mismatches")}
    targets = {
        "throughput_x_at_32>=4": (at32.get("throughput_ratio"), lambda v: v >= 4),
        "p99_ms_at_32<=100": (at32.get("p99_ms"), lambda v: v <= 100),
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
    meta = {"python": platform.python_version(), "torch": torch.__version__}
    meta.update(httpx=httpx.__version__, cpus=os.cpu_count(), date=time.strftime("%Y-%m-%d"))
    meta.update(model=str(model_dir), texts=len(texts), args=vars(args))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    result = {"meta": meta, "rows": rows, "summary": summary}
    Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("wrote", args.json)


if __name__ == "__main__":
    main()
