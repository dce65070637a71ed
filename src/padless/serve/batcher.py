"""Micro-batching for the server: concurrent requests → few length-grouped model calls.

Shapes: B batch, T time steps (padded length), C outputs. Each request brings a list of
encoded inputs (arrays of T_i steps). :meth:`MicroBatcher.submit` queues it and waits; one
collector task takes the first waiting request, keeps gathering more until
``max_batch_tokens`` real steps are waiting or ``max_wait_ms`` have passed since it took the
first one (no wait when the previous model call served a lone request and nothing else is
queued: a single caller is not delayed for company that is not coming; under load requests
pile up during each model call and the wait comes back), then sorts all the gathered inputs by
length and cuts them into model batches whose padded size B × T stays within
``max_batch_tokens`` (an input longer than that runs alone; the cut is
:func:`padless.batching.budget.cut_to_budget`, the one the token-budget sampler uses). The
model runs in one worker thread, so the event loop keeps accepting requests meanwhile, and
what arrives during a run is gathered for the next one. Every input's logits go back to its
own request, in its own order: no caller ever sees another's rows.

``enabled=False`` runs each request on its own (one model call per request, inputs still
length-sorted inside it): the baseline the load benchmark compares against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padless.batching.budget import cut_to_budget

logger = logging.getLogger(__name__)

Run = Callable[[list], list]  # encoded inputs (one length-sorted batch) -> one result each


class QueueFull(Exception):
    """More inputs are waiting than ``max_queue``; the caller should retry later (503)."""


@dataclass
class _Request:
    inputs: list
    future: asyncio.Future
    tokens: int
    results: list = field(default_factory=list)


@dataclass
class BatchStats:
    """Counters the server exports as metrics."""

    batches: int = 0
    inputs: int = 0
    on_batch: Callable[[int, int, float], Any] | None = None  # (inputs, padded tokens, seconds)


class MicroBatcher:
    """Gathers concurrent requests into length-grouped batches (see the module docstring).

    ``run(batch)`` receives a list of encoded inputs sorted by length and returns one result
    per input (e.g. a logits row); it is called from the worker thread only, one batch at a
    time. ``max_queue`` bounds the inputs accepted but not yet running.
    """

    def __init__(
        self,
        run: Run,
        *,
        max_batch_tokens: int = 16384,
        max_wait_ms: float = 2.0,
        max_queue: int = 4096,
        enabled: bool = True,
        stats: BatchStats | None = None,
    ):
        self.run = run
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.enabled = enabled
        self.stats = stats or BatchStats()
        self.depth = 0  # inputs accepted, not yet running
        self._alone = False  # the last model call served a single request
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="padless-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._collect(), name="padless-batcher")

    async def stop(self) -> None:
        """Finish every request already queued, then stop the collector and the worker."""
        if self._task is not None:
            await self._started_queue().put(None)  # after everything queued before it
            self._arrived.set()
            await self._task
            self._task = None
        self.executor.shutdown(wait=True)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in the model's worker thread (between batches), e.g. a streaming
        session's update, so one model is never used by two threads at once."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def submit(self, inputs: Sequence[Any]) -> list:
        """Queue one request's encoded inputs; returns their results in the same order.
        Raises :class:`QueueFull` when accepting them would exceed ``max_queue``."""
        if self._task is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self.depth + len(inputs) > self.max_queue:
            raise QueueFull(f"{self.depth} inputs waiting, max_queue {self.max_queue}")
        future = asyncio.get_running_loop().create_future()
        tokens = sum(len(x) for x in inputs)
        self.depth += len(inputs)
        await self._started_queue().put(_Request(list(inputs), future, tokens))
        self._arrived.set()
        return await future

    def _started_queue(self) -> asyncio.Queue[_Request | None]:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        return self._queue

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._started_queue()
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            gathered, tokens = [first], first.tokens
            deadline = loop.time() + self.max_wait
            while self.enabled and tokens < self.max_batch_tokens:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0 or (len(gathered) == 1 and self._alone):
                        break  # a lone caller last time too: do not make it wait for nobody
                    # Wait on an event, not on queue.get(): cancelling a get at the timeout
                    # could drop a request that arrived at that instant.
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except TimeoutError:
                        pass
                    continue
                if nxt is None:
                    stopping = True
                    break
                gathered.append(nxt)
                tokens += nxt.tokens
            self._alone = len(gathered) == 1
            self.depth -= sum(len(r.inputs) for r in gathered)
            try:
                await loop.run_in_executor(self.executor, self._run_gathered, gathered)
            except Exception as exc:  # a bug in the model call: fail these callers, go on
                logger.exception("model call failed")
                for r in gathered:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r in gathered:
                if not r.future.done():  # a caller that went away has a cancelled future
                    r.future.set_result(r.results)

    def _run_gathered(self, gathered: list[_Request]) -> None:
        """Worker thread: length-sort every gathered input, run budget-sized batches, and put
        each result back in its request's slot."""
        items = [(len(x), k, i) for k, r in enumerate(gathered) for i, x in enumerate(r.inputs)]
        items.sort()
        for r in gathered:
            r.results = [None] * len(r.inputs)
        for group in self._groups(items):
            t0 = time.perf_counter()
            outputs = self.run([gathered[k].inputs[i] for _, k, i in group])
            seconds = time.perf_counter() - t0
            for (_, k, i), out in zip(group, outputs, strict=True):
                gathered[k].results[i] = out
            self.stats.batches += 1
            self.stats.inputs += len(group)
            if self.stats.on_batch is not None:
                self.stats.on_batch(len(group), len(group) * group[-1][0], seconds)

    def _groups(self, items: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
        """Cut length-sorted items into batches of padded size B × T ≤ max_batch_tokens."""
        cuts = cut_to_budget([length for length, _, _ in items], self.max_batch_tokens)
        return [items[cut] for cut in cuts]


def stack_rows(out: np.ndarray, lengths: np.ndarray, tagging: bool) -> list[np.ndarray]:
    """Batch logits → one array per input: (C,) rows, or (T_i, C) for tagging."""
    if tagging:
        return [out[k, : int(n)] for k, n in enumerate(lengths)]
    return list(out)
