"""Prometheus metrics of the server (``GET /metrics``): requests by route and status, request
latency, model batch sizes and times, queue depth, live streaming sessions, clients that went
away mid-request and connections the server closed.

Each app has its own registry (two apps in one process, as in tests, do not share counters).
Requests are counted by a plain ASGI middleware, so every answer is counted, errors raised
before the endpoint (404, 405) included. A client that disconnects before its request was read
is a client event, not a server error: it is counted with status 499 (nginx's "client closed
request") and in ``padless_client_disconnects_total``, and logged in one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import ClientDisconnect

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CLIENT_CLOSED = 499  # nginx's status for a client that closed the connection mid-request


class Metrics:
    """The server's metric families, in a registry of their own."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "padless_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "padless_request_seconds",
            "time from request to response",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inputs = Counter("padless_inputs", "inputs predicted by /v1/predict", registry=r)
        self.batch_inputs = Histogram(
            "padless_batch_inputs", "inputs per model call", buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "padless_batch_padded_tokens",
            "padded B x T per model call",
            buckets=tuple(64 * b for b in SIZE_BUCKETS),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "padless_batch_seconds", "model call time", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue = Gauge("padless_queue_depth", "inputs waiting for the model", registry=r)
        self.sessions = Gauge("padless_sessions", "live streaming sessions", registry=r)
        self.disconnects = Counter(
            "padless_client_disconnects",
            "clients that went away before their request was read (counted as status 499)",
            ["method", "route"],
            registry=r,
        )
        self.closed = Counter(
            "padless_connections_closed",
            "connections the server closed before a request head arrived, by reason "
            "(header_timeout, header_too_large)",
            ["reason"],
            registry=r,
        )
        self._series: dict[tuple, tuple] = {}

    def request_series(self, method: str, route: str, status: int) -> tuple:
        """The (counter, histogram) children of one method / route / status, made once."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self.requests.labels(method, route, str(status)), self.latency.labels(route)
            self._series[key] = series
        return series

    def track(self, queue: Callable[[], float], sessions: Callable[[], float]) -> None:
        """Read the queue depth and session count when scraped."""
        self.queue.set_function(queue)
        self.sessions.set_function(sessions)

    def observe_batch(self, inputs: int, padded_tokens: int, seconds: float) -> None:
        self.batch_inputs.observe(inputs)
        self.batch_tokens.observe(padded_tokens)
        self.batch_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """ASGI middleware: counts each HTTP response by method, route template and status, and
    times it. The metrics live on ``app.state.padless.metrics`` once the lifespan has run."""

    def __init__(self, app, owner) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        gone = False
        try:
            await self.app(scope, receive, send_status)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer
            gone, status[0] = True, CLIENT_CLOSED
        finally:
            state = getattr(self.owner.state, "padless", None)
            name = getattr(scope.get("route"), "path", None) or "unmatched"
            if state is not None:
                count, latency = state.metrics.request_series(scope["method"], name, status[0])
                count.inc()
                latency.observe(time.perf_counter() - start)
                if gone:
                    state.metrics.disconnects.labels(scope["method"], name).inc()
            if gone:
                client = scope.get("client") or ("?", 0)
                logger.info(
                    "client %s:%s went away before its %s %s was read (counted as %d)",
                    *client[:2],
                    scope["method"],
                    name,
                    CLIENT_CLOSED,
                )


def instrument(app) -> None:
    """Count and time every request of ``app`` (a FastAPI / Starlette app)."""
    app.add_middleware(RequestMetrics, owner=app)
