"""Streaming sessions of the server: live :class:`~padless.models.streaming.StreamState` objects by
id, each with a lock so appends to one session run in order, expired after an idle time and
capped in number (the routes answer 404 for an unknown or expired id, 429 when full).

Imports nothing from torch itself: the state objects come from the ``new_state`` factory the
app passes in (``StreamState`` for the eager backend).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SessionsFull(Exception):
    """``max_sessions`` live sessions exist already (the server answers 429)."""


@dataclass
class Session:
    state: Any  # a padless.models.streaming.StreamState
    last_used: float
    lock: asyncio.Lock


class SessionStore:
    """Live streaming sessions by id, each with its state (from ``new_state()``) and a lock
    (appends to one session run in order). Sessions idle for ``ttl_s`` seconds expire; at most
    ``max_sessions`` live at once."""

    def __init__(
        self,
        new_state: Callable[[], Any],
        max_sessions: int = 1000,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.new_state = new_state
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def sweep(self) -> int:
        """Drop expired sessions; returns how many."""
        now = self.clock()
        old = [k for k, s in self._sessions.items() if now - s.last_used > self.ttl_s]
        for k in old:
            del self._sessions[k]
        return len(old)

    def create(self) -> str:
        self.sweep()
        if len(self._sessions) >= self.max_sessions:
            raise SessionsFull(f"{len(self._sessions)} live sessions, max {self.max_sessions}")
        sid = uuid.uuid4().hex
        self._sessions[sid] = Session(self.new_state(), self.clock(), asyncio.Lock())
        return sid

    def get(self, sid: str) -> Session | None:
        """The live session ``sid`` (its idle clock restarted), or None if unknown / expired."""
        s = self._sessions.get(sid)
        if s is None:
            return None
        now = self.clock()
        if now - s.last_used > self.ttl_s:
            del self._sessions[sid]
            return None
        s.last_used = now
        return s

    def delete(self, sid: str) -> bool:
        return self._sessions.pop(sid, None) is not None
