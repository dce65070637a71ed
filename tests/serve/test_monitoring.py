"""``padless.serve.monitoring``: a client that goes away mid-request is a client event, counted
apart in /metrics (status 499 and ``padless_client_disconnects_total``) and logged in one line,
never a 500 with a traceback."""

import socket
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from tests.serve.server import log_of, metric  # noqa: E402

pytestmark = pytest.mark.slow

PREDICT = '{method="POST",route="/v1/predict"'


def test_a_client_gone_mid_body_is_a_499_client_event_not_a_500(served):
    url, proc = served
    start = len(log_of(proc))
    gone = f"padless_client_disconnects_total{PREDICT}}}"
    c499 = f'padless_requests_total{PREDICT},status="499"}}'
    c500 = f'padless_requests_total{PREDICT},status="500"}}'
    before = metric(url, gone, 0), metric(url, c499, 0)
    host, port = url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"inputs": ["half a'
            )
            time.sleep(0.2)  # the server is reading the body when the client goes
    deadline = time.monotonic() + 10
    while metric(url, gone, 0) < before[0] + 3:
        assert time.monotonic() < deadline, "the disconnects were not counted"
        time.sleep(0.1)
    assert metric(url, gone) == before[0] + 3
    assert metric(url, c499) == before[1] + 3
    assert metric(url, c500, 0) == 0
    log = log_of(proc, start)
    assert "Traceback" not in log and "Exception in ASGI" not in log, log
    lines = [line for line in log.splitlines() if "went away" in line]
    assert len(lines) == 3, log
    assert all("POST /v1/predict" in line and "499" in line for line in lines), lines
