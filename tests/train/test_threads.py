"""padless.train.threads: the default thread count is the cores this process may use
(padless.cores), and the user's or torchrun's choice wins."""

import os

import torch

from padless import cores
from padless.train import threads


def test_the_configured_count_and_omp_num_threads_win(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 6)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.choose_threads(None) == 6
    assert threads.choose_threads(None, local_processes=4) == 1  # 6 cores, 4 ranks on the node
    assert threads.choose_threads(3) == 3
    assert threads.choose_threads(None, current=4) == 4  # torch's physical-core default caps it
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torchrun's default per rank: already applied
    assert threads.choose_threads(None) is None
    assert threads.choose_threads(2) == 2


def test_a_run_sets_torch_to_the_usable_cores(monkeypatch):
    """End to end: what build_run leaves torch with, on this machine, with nothing set."""
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        n = threads.choose_threads(None)
        torch.set_num_threads(n)
        assert torch.get_num_threads() == cores.usable_cores() <= len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)


class _Clock:
    """perf_counter for the tuner: each step lasts what the thread count then set costs."""

    def __init__(self, cost):
        self.now, self.cost = 0.0, cost

    def __call__(self):
        return self.now

    def run_step(self, tuner, tokens=100):
        tuner.start()
        self.now += self.cost[torch.get_num_threads()]
        tuner.stop(tokens)


def test_the_tuner_keeps_the_faster_count_and_follows_the_load(monkeypatch):
    import padless.train.threads as threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        clock = _Clock({2: 1.0, 1: 1.8})  # quiet: two threads are faster
        monkeypatch.setattr(threads.time, "perf_counter", clock)
        tuner = threads.ThreadTuner(2, probe=3, hold=5, margin=1.15)
        seen = []
        for _ in range(6):  # the probe alternates 2 and 1
            clock.run_step(tuner)
            seen.append(torch.get_num_threads())
        assert seen == [2, 1, 2, 1, 2, 1] and tuner.chosen == 2
        for _ in range(5):  # the hold keeps 2
            clock.run_step(tuner)
            assert torch.get_num_threads() == 2
        clock.cost = {2: 1.1, 1: 1.0}  # within the margin: the default stays
        for _ in range(6):
            clock.run_step(tuner)
        assert tuner.chosen == 2
        for _ in range(5):
            clock.run_step(tuner)
        clock.cost = {2: 1.3, 1: 1.0}  # a busy neighbour: one thread is clearly faster now
        for _ in range(6):
            clock.run_step(tuner)
        assert tuner.chosen == 1
        clock.run_step(tuner)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_given_count_is_never_tuned(tmp_path):
    from padless.config import load_config
    from padless.train.distributed import World
    from padless.train.run import build_run

    base = ["data.source=sum_mod", "data.train_size=300", "data.valid_size=10"]
    base += ["data.test_size=10", "data.max_length=5", "data.cache=false"]
    before = torch.get_num_threads()
    try:
        given = build_run(
            load_config(None, [*base, "train.num_threads=2"]), tmp_path, True, World()
        )
        assert given.tuner is None
        fixed = build_run(
            load_config(None, [*base, "train.deterministic=true"]), tmp_path / "d", True, World()
        )
        assert fixed.tuner is None
    finally:
        torch.set_num_threads(before)
