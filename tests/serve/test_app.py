"""``padless serve`` end to end: the real server started as a process on a loopback port.

Concurrent callers get exactly their own results (and were batched together), a streaming
session's appends equal whole-sequence predictions, every bad input gets its status and a
readable ``detail``, and SIGTERM lets a request in flight finish."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from padless.cli import main  # noqa: E402
from tests.serve.server import (  # noqa: E402
    WORDS,
    free_port,
    log_of,
    metric,
    same,
    server,
    texts,
)

pytestmark = pytest.mark.slow


def test_concurrent_callers_get_their_own_results(models):
    import padless

    predictor = padless.load(models["uni"])
    jobs = [texts(seed, 1 + seed % 4) for seed in range(96)]
    expected = [predictor.predict(j) for j in jobs]
    with server(models["uni"], "--max-wait-ms", "20") as (url, _):
        with httpx.Client(timeout=30) as client:

            def call(k):
                r = client.post(url + "/v1/predict", json={"inputs": jobs[k]})
                assert r.status_code == 200, r.text
                return k, r.json()["predictions"]

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                for k, got in pool.map(call, range(len(jobs))):
                    same(got, expected[k])
        batches = metric(url, "padless_batch_inputs_count")
        inputs = metric(url, "padless_batch_inputs_sum")
        assert inputs == sum(len(j) for j in jobs)
        assert batches < len(jobs)  # requests were gathered into shared model calls
        assert metric(
            url, 'padless_requests_total{method="POST",route="/v1/predict",status="200"}'
        ) == len(jobs)
        docs = httpx.get(url + "/openapi.json").json()
        assert {"/v1/predict", "/v1/sessions", "/metrics", "/healthz"} <= set(docs["paths"])
        assert httpx.get(url + "/docs").status_code == 200
        assert httpx.get(url + "/healthz").json() == {"status": "ok"}


def test_streaming_append_equals_whole_sequence_prediction(models):
    import padless

    predictor = padless.load(models["uni"])
    pieces = ["the film was", "a great", "moving story but the plot", "felt dull"]
    with server(models["uni"], "--max-sessions", "2", "--session-ttl-s", "3") as (url, _):
        sid = httpx.post(url + "/v1/sessions").json()["session_id"]
        seen = []
        for piece in pieces:
            seen.append(piece)
            r = httpx.post(f"{url}/v1/sessions/{sid}/append", json={"inputs": piece})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["steps"] == len(" ".join(seen).split())
            same([body["prediction"]], predictor.predict([" ".join(seen)]))
        assert metric(url, "padless_sessions") == 1
        # Limits of the session store: 429 when full, 404 once deleted or expired.
        other = httpx.post(url + "/v1/sessions").json()["session_id"]
        full = httpx.post(url + "/v1/sessions")
        assert full.status_code == 429 and "sessions" in full.json()["detail"]
        assert httpx.delete(f"{url}/v1/sessions/{sid}").status_code == 200
        gone = httpx.post(f"{url}/v1/sessions/{sid}/append", json={"inputs": "more"})
        assert gone.status_code == 404 and "POST /v1/sessions" in gone.json()["detail"]
        time.sleep(3.5)  # idle past the TTL
        expired = httpx.post(f"{url}/v1/sessions/{other}/append", json={"inputs": "more"})
        assert expired.status_code == 404


def test_bidirectional_models_refuse_streaming_with_the_reason(models):
    with server(models["bi"]) as (url, _):
        r = httpx.post(url + "/v1/sessions")
        assert r.status_code == 409 and "bidirectional" in r.json()["detail"]
        r = httpx.post(url + "/v1/predict", json={"inputs": ["a great film"]})
        assert r.status_code == 200  # whole-sequence prediction works


BAD = [
    # (body bytes or json, content type, status, words expected in detail)
    ({"inputs": []}, 422, "at least 1"),
    ({"inputs": "a great film"}, 422, "inputs"),
    ({"inputs": [3]}, 422, "row 0: expected a string"),
    ({"inputs": ["ok", "<br /><br />"]}, 422, "row 1"),
    ({"text": ["ok"]}, 422, "inputs"),
    ({"inputs": ["a"] * 9}, 422, "at most 8 inputs"),
    ({"inputs": ["word " * 60]}, 422, "at most 50 tokens"),
    (b'{"inputs": ["a great film"', 422, "malformed JSON"),
    (b'{"inputs": ["caf\xe9"]}', 422, "invalid UTF-8"),
    ({"inputs": ["x" * 5000]}, 413, "at most 4096 bytes"),
]


def test_every_bad_input_gets_its_status_and_a_readable_detail(models):
    flags = ["--max-inputs", "8", "--max-steps", "50", "--max-body-bytes", "4096"]
    with server(models["uni"], *flags) as (url, proc):
        for body, status, words in BAD:
            if isinstance(body, bytes):
                r = httpx.post(url + "/v1/predict", content=body)
            else:
                r = httpx.post(url + "/v1/predict", json=body)
            assert r.status_code == status, (body, r.text)
            detail = r.json()["detail"]
            assert isinstance(detail, str) and words in detail, (body, detail)
        r = httpx.post(url + "/v1/sessions/nope/append", json={"inputs": "a"})
        assert r.status_code == 404 and "nope" in r.json()["detail"]
        sid = httpx.post(url + "/v1/sessions").json()["session_id"]
        r = httpx.post(f"{url}/v1/sessions/{sid}/append", json={"inputs": "word " * 40})
        assert r.status_code == 200
        r = httpx.post(f"{url}/v1/sessions/{sid}/append", json={"inputs": "word " * 40})
        assert r.status_code == 422 and "64 steps" in r.json()["detail"]  # the model's cap
        # After all that the server is alive and answers correctly.
        assert proc.poll() is None
        assert httpx.post(url + "/v1/predict", json={"inputs": ["fine"]}).status_code == 200
        assert (
            metric(url, 'padless_requests_total{method="POST",route="/v1/predict",status="422"}')
            >= 8
        )


def test_queue_full_is_503_with_retry_after_and_sigterm_drains_requests_in_flight(models):
    import padless

    predictor = padless.load(models["uni"])
    flags = ["--max-queue", "4", "--max-wait-ms", "1500"]
    with server(models["uni"], *flags) as (url, proc):
        first = {}

        def slow_call():
            first["r"] = httpx.post(url + "/v1/predict", json={"inputs": WORDS[:3]}, timeout=30)

        t = threading.Thread(target=slow_call)
        t.start()
        time.sleep(0.5)  # the first request waits in the batcher for company (1.5 s)
        r = httpx.post(url + "/v1/predict", json={"inputs": WORDS[3:5]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "capacity" in r.json()["detail"]
        proc.send_signal(signal.SIGTERM)  # while the first request is still in flight
        t.join(30)
        assert first["r"].status_code == 200
        same(first["r"].json()["predictions"], predictor.predict(WORDS[:3]))
        # uvicorn re-raises the signal it handled once drained: exit by SIGTERM, not a crash.
        assert proc.wait(30) in (0, -signal.SIGTERM)
        log = log_of(proc)
        assert "Traceback" not in log, log


def test_onnx_backend_serves_the_same_predictions_and_refuses_streaming(models):
    import padless

    pytest.importorskip("onnxruntime")
    assert main(["-q", "export", str(models["bi"])]) == 0  # MODEL/model.onnx
    jobs = texts(7, 5)
    expected = padless.load(models["bi"]).predict(jobs)
    with server(models["bi"], "--backend", "onnx", "--threads", "1") as (url, _):
        r = httpx.post(url + "/v1/predict", json={"inputs": jobs})
        assert r.status_code == 200, r.text
        same(r.json()["predictions"], expected)
        r = httpx.post(url + "/v1/sessions")
        assert r.status_code == 409 and "eager backend" in r.json()["detail"]


def test_readyz_is_503_until_the_kernels_are_loaded_and_a_warm_up_batch_ran(models, tmp_path):
    """The server accepts connections (/healthz) while its warm-up batch waits for the kernels
    (here: another process holds the kernels' build lock, as during a first build); /readyz
    answers 503 until that build is there and the warm-up batch ran through the model."""
    import shutil

    from padless.nn import extension, kernels

    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        pytest.skip("PADLESS_NO_EXT is set")
    try:  # this environment's build (compiled now unless `make install` did)
        built = extension.build(kernels.sources()).build
    except RuntimeError as exc:
        pytest.skip(f"the kernels cannot be built here: {exc}")
    root = tmp_path / "kernels"  # an empty kernels root for the server: nothing built there
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "padless", "serve", str(models["uni"]), "--port", str(port)]
    env = {**os.environ, "CI": "1", "PADLESS_KERNELS_DIR": str(root)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with extension._build_lock(root):  # "another process is building the kernels"
            deadline = time.monotonic() + 90
            while True:  # the model loads, then connections are accepted
                assert proc.poll() is None, proc.stdout.read().decode()
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
            for _ in range(10):  # warming up: waiting for the kernels
                r = httpx.get(url + "/readyz", timeout=5)
                assert r.status_code == 503, r.text
                assert r.json() == {"ready": False, "stage": "warming up"}
                time.sleep(0.2)
            shutil.copytree(built.directory, root / built.name)  # "that build finished"
        deadline = time.monotonic() + 60
        while (r := httpx.get(url + "/readyz", timeout=5)).status_code != 200:
            assert r.status_code == 503 and proc.poll() is None
            assert time.monotonic() < deadline, "not ready 60 s after the kernels were built"
            time.sleep(0.1)
        assert r.json() == {"ready": True, "stage": "ready"}
        r = httpx.post(url + "/v1/predict", json={"inputs": ["a great film"]}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = proc.stdout.read().decode()
    assert "Traceback" not in log and "building them now" not in log, log
