"""``padless.serve.connections`` and the server's connection limits, on real sockets: a client
that trickles its request head, sends nothing, trickles its body or sends a huge head cannot
hold a connection, and connections beyond ``--max-connections`` are refused (503), not
queued without bound."""

import socket
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from tests.serve.server import metric, server  # noqa: E402

pytestmark = pytest.mark.slow

HEAD_S = BODY_S = 1.5
FLAGS = [
    "--header-timeout-s",
    str(HEAD_S),
    "--body-timeout-s",
    str(BODY_S),
    "--max-header-bytes",
    "8192",
    "--max-connections",
    "64",
]
HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def guarded(models):
    """A server with short deadlines, a small head cap and a small connection limit."""
    with server(models["uni"], *FLAGS) as running:
        yield running


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _trickle(s: socket.socket, data: bytes, every_s: float, out: dict, key) -> None:
    """Send ``data`` a byte every ``every_s`` seconds until the server closes the connection;
    ``out[key]`` = (seconds it stayed open, what the server answered)."""
    start = time.monotonic()
    s.settimeout(every_s)
    got = b""
    for i in range(len(data)):
        try:
            s.sendall(data[i : i + 1])
            chunk = s.recv(65536)  # wait one tick for an answer or a close
        except TimeoutError:
            continue
        except OSError:  # reset: closed
            break
        got += chunk
        if not chunk:
            break
    else:
        out[key] = (float("inf"), got)  # still open after sending everything
        return
    s.settimeout(2)
    try:
        while chunk := s.recv(65536):
            got += chunk
    except OSError:
        pass
    out[key] = (time.monotonic() - start, got)


def test_slow_idle_and_oversized_clients_cannot_hold_connections(guarded):
    """Slowloris heads (a byte every 0.3 s), silent connections, a trickled body and an 8 KiB+
    head: each is closed by the server within its deadline, with 408 / 431 where a request had
    begun; meanwhile, and after, normal requests are answered."""
    url, _ = guarded
    out: dict = {}
    threads = []
    slow_head = HEAD + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"  # ~70 s at a byte per 0.3 s
    for k in range(20):
        t = threading.Thread(target=_trickle, args=(_connect(url), slow_head, 0.3, out, k))
        threads.append(t)
    body = b'{"inputs": ["' + b"a " * 200 + b'"]}'
    head = HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    s = _connect(url)
    s.sendall(head)
    threads.append(threading.Thread(target=_trickle, args=(s, body, 0.3, out, "body")))
    silent = [_connect(url) for _ in range(10)]
    start = time.monotonic()
    for t in threads:
        t.start()
    assert httpx.post(url + "/v1/predict", json={"inputs": ["fine"]}).status_code == 200
    big = _connect(url)
    big.sendall(HEAD + b"X-Big: " + b"b" * 9000 + b"\r\n")
    big.settimeout(5)
    answer = big.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert b"max_header_bytes" in answer
    for s in silent:  # closed without a word: nothing was asked
        s.settimeout(HEAD_S + 3)
        assert s.recv(1) == b""
    assert time.monotonic() - start < HEAD_S + 3
    for t in threads:
        t.join(HEAD_S + 10)
    for k in range(20):
        held, answer = out[k]
        assert held < HEAD_S + 1.5, (k, held)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"header_timeout_s" in answer
    held, answer = out["body"]
    assert held < BODY_S + 1.5, held
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"body_timeout_s" in answer and b"connection: close" in answer.lower()
    assert metric(url, 'padless_connections_closed_total{reason="header_timeout"}') >= 30
    assert metric(url, 'padless_connections_closed_total{reason="header_too_large"}') == 1
    assert (
        metric(url, 'padless_requests_total{method="POST",route="/v1/predict",status="408"}') == 1
    )
    assert httpx.post(url + "/v1/predict", json={"inputs": ["fine"]}).status_code == 200


def test_connections_beyond_max_connections_are_refused_until_they_go(guarded):
    """64 silent connections fill --max-connections: a request on one more is 503 (and
    closed), not held; once the deadline closes the silent ones, requests are answered."""
    url, _ = guarded
    silent = [_connect(url) for _ in range(64)]
    r = httpx.get(url + "/healthz")
    assert r.status_code == 503 and r.headers["connection"] == "close"
    for s in silent:
        s.settimeout(HEAD_S + 3)
        assert s.recv(1) == b""
    assert httpx.get(url + "/healthz").status_code == 200
