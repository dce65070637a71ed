"""The HTTP/1.1 protocol ``padless serve`` runs: uvicorn's httptools protocol plus two guards
uvicorn does not have, against clients that hold connections without finishing a request.

* A request-head deadline. From the moment a connection opens, and again from the end of each
  response, the client has ``header_timeout_s`` seconds to complete its next request head (the
  request line and the headers). Past it the connection is closed, after a 408 when part of a
  head had arrived (an idle keep-alive connection is closed silently). uvicorn has no such
  deadline: its ``timeout_keep_alive`` is armed only after a response and cancelled by the first
  byte that arrives, and nothing is armed when a connection opens, so a client that sends one
  header byte a second (slowloris), or nothing at all, holds its connection forever.
* A request-head size cap: a head over ``max_header_bytes`` is answered 431 and the connection
  closed. httptools has no limit of its own (h11 has ``h11_max_incomplete_event_size``).

The body has its own deadline in the app (``body_timeout_s``, 408: see
:func:`padless.serve.schemas.parse_body`), and uvicorn's own ``limit_concurrency`` answers 503
to requests beyond ``max_connections`` open connections (:func:`padless.serve.app.serve`).
Each close is reported to ``on_close(reason)`` ("header_timeout" or "header_too_large"; the
server counts them in ``padless_connections_closed_total``).

Without httptools, :func:`guarded_protocol` returns None and the server runs uvicorn's h11
protocol, whose ``h11_max_incomplete_event_size`` caps the head but which has no head deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def _response(status: int, reason: str, message: str) -> bytes:
    body = message.encode("ascii")
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode("ascii") + body


def guarded_protocol(
    header_timeout_s: float,
    max_header_bytes: int,
    on_close: Callable[[str], Any] | None = None,
) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with the head deadline and size cap of the module
    docstring (pass it as ``uvicorn.Config(http=...)``); None when httptools is missing."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    timeout_page = _response(
        408,
        "Request Timeout",
        f"request head: expected the request line and headers within {header_timeout_s:g} s "
        "(header_timeout_s), got part of them. Fix: send the request head at once\n",
    )
    too_large_page = _response(
        431,
        "Request Header Fields Too Large",
        f"request head: expected at most {max_header_bytes} bytes of request line and headers "
        "(max_header_bytes), got more. Fix: send fewer or shorter headers\n",
    )

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.head_timer: asyncio.TimerHandle | None = None
            self.head_bytes = 0  # bytes received while waiting for a complete request head
            self.in_body = False  # between a head and the end of its body

        # A head deadline is armed when the connection opens and after each response; the
        # head completing disarms it.
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self.in_body:
                self.head_bytes += len(data)
            super().data_received(data)
            if (
                self.head_bytes > max_header_bytes
                and not self.in_body
                and not self.transport.is_closing()
            ):
                self._refuse(too_large_page, "header_too_large")

        def on_headers_complete(self) -> None:
            self._disarm()
            self.head_bytes, self.in_body = 0, True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self.in_body = False
            super().on_message_complete()

        def on_response_complete(self) -> None:
            pipelined = bool(self.pipeline)  # the next request's head is already in
            super().on_response_complete()
            if not pipelined and not self.transport.is_closing():
                self._arm()

        def _arm(self) -> None:
            self._disarm()
            self.head_bytes = 0
            self.head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_timeout(self) -> None:
            self.head_timer = None
            if self.transport.is_closing():
                return
            # Part of a head came: say why. Nothing came (idle keep-alive): just close.
            self._refuse(timeout_page if self.head_bytes else None, "header_timeout")

        def _refuse(self, page: bytes | None, reason: str) -> None:
            self._disarm()
            idle = self.cycle is None or self.cycle.response_complete
            if page is not None and idle:  # never inside a response already under way
                self.transport.write(page)
            self.transport.close()
            logger.debug("closed a connection from %s: %s", self.client, reason)
            if on_close is not None:
                on_close(reason)

    return GuardedHttpToolsProtocol
