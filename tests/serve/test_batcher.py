"""The micro-batcher: concurrent callers get exactly their own results, batches respect the
token budget and are length-sorted, a full queue refuses, stop() drains, and a failing model
call fails only its callers."""

import asyncio
import threading

import numpy as np
import pytest

from padless.serve.batcher import MicroBatcher, QueueFull


class Recorder:
    """A model stand-in that tags each input with a value only it produces (its sum and
    length), and records every batch it was given."""

    def __init__(self, delay: float = 0.0):
        self.batches: list[list[int]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, batch):
        import time

        self.threads.add(threading.current_thread().name)
        self.batches.append([len(x) for x in batch])
        if self.delay:
            time.sleep(self.delay)
        return [np.array([float(np.sum(x)), float(len(x))]) for x in batch]


def requests(n: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [rng.integers(1, 1000, rng.integers(1, 40)) for _ in range(rng.integers(1, 5))]
        for _ in range(n)
    ]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_callers_get_their_own_results_in_order_from_few_batches():
    rec = Recorder(delay=0.002)
    reqs = requests(60)

    async def main():
        b = MicroBatcher(rec, max_batch_tokens=400, max_wait_ms=5)
        await b.start()
        out = await asyncio.gather(*(b.submit(r) for r in reqs))
        await b.stop()
        return out, b

    out, b = run(main())
    for req, res in zip(reqs, out, strict=True):
        assert [tuple(r) for r in res] == [(float(np.sum(x)), float(len(x))) for x in req]
    assert len(rec.batches) < len(reqs)  # gathered across callers
    for lengths in rec.batches:
        assert lengths == sorted(lengths)  # grouped by length
        assert len(lengths) == 1 or len(lengths) * max(lengths) <= 400  # within the budget
    assert b.stats.inputs == sum(len(r) for r in reqs)
    assert rec.threads == {"padless-model_0"}  # one worker thread, never the event loop


def test_batching_off_runs_each_request_alone():
    rec = Recorder()
    reqs = requests(10, seed=1)

    async def main():
        b = MicroBatcher(rec, enabled=False)
        await b.start()
        out = await asyncio.gather(*(b.submit(r) for r in reqs))
        await b.stop()
        return out

    out = run(main())
    assert sorted(map(sorted, rec.batches)) == sorted(sorted(len(x) for x in r) for r in reqs)
    assert [len(o) for o in out] == [len(r) for r in reqs]


def test_a_full_queue_refuses_and_stop_drains_what_was_accepted():
    rec = Recorder()

    async def main():
        b = MicroBatcher(rec, max_queue=5, max_wait_ms=200)
        await b.start()
        first = asyncio.create_task(b.submit([np.ones(3)] * 4))
        await asyncio.sleep(0.02)  # the collector holds it, waiting for company
        assert b.depth == 4
        with pytest.raises(QueueFull):
            await b.submit([np.ones(2)] * 2)
        await b.stop()  # drains: the accepted request is answered
        return await first

    assert [tuple(r) for r in run(main())] == [(3.0, 3.0)] * 4


def test_a_failing_model_call_fails_its_callers_only():
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [np.zeros(1) for _ in batch]

    async def main():
        b = MicroBatcher(flaky, max_wait_ms=0)
        await b.start()
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit([np.ones(2)])
        ok = await b.submit([np.ones(2)])  # the batcher goes on
        await b.stop()
        return ok

    assert len(run(main())) == 1


def test_a_lone_caller_is_not_kept_waiting_once_it_is_known_to_be_alone():
    import time

    rec = Recorder()

    async def main():
        b = MicroBatcher(rec, max_wait_ms=400)
        await b.start()
        t0 = time.perf_counter()
        await b.submit([np.ones(2)])  # nothing known yet: waits the window for company
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        await b.submit([np.ones(2)])  # the last call was alone and nothing is queued: no wait
        second = time.perf_counter() - t0
        both = asyncio.gather(b.submit([np.ones(3)]), b.submit([np.ones(4)]))
        await both  # two at once: gathered into one call
        await b.stop()
        return first, second

    first, second = run(main())
    assert first >= 0.35 and second < 0.2
    assert rec.batches[-1] == [3, 4]
