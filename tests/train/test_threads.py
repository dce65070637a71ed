"""padless.train.threads: the default thread count is the cores this process may use
(padless.cores), and the user's or torchrun's choice wins."""

import os

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
