"""Distributed data-parallel training on PyTorch's own engine (``torchrun``).

``torchrun --nproc_per_node N -m padless train CONFIG`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in the environment; :func:`setup` reads them and
joins the process group: gloo on CPU, NCCL on CUDA (each process on ``cuda:LOCAL_RANK``). A
plain ``padless train`` is a world of one: :class:`World` then answers every collective
locally, so the training loop has one code path.

What the loop does with it (see :mod:`padless.train.loop`): the samplers shard batches by rank with
equal step counts per rank; gradients are averaged by ``DistributedDataParallel`` (skipped with
``no_sync`` on the accumulation steps before the last); epoch sums (loss, examples, tokens) are
summed over ranks; evaluation runs each rank on every ``world_size``-th row and gathers the
outputs, so metrics equal a single process's; rank 0 alone claims the output directory (every
rank shares its verdict, :func:`padless.train.outdir.claim`) and writes checkpoints, metrics
and the artifact.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from padless.errors import config_error

logger = logging.getLogger(__name__)


@dataclass
class World:
    """This process's place in the job: ``rank`` of ``size`` processes (1: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and logs progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over ranks (float64 on CPU, on every rank)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return t.cpu().tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (picklable Python objects)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def from_env() -> World:
    """The world ``torchrun`` describes in the environment (a world of one without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(
        rank=int(os.environ.get("RANK", "0")),
        size=size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def setup(device: str = "auto") -> World:
    """Join the process group ``torchrun`` set up (gloo on CPU, NCCL on CUDA), once per
    process; a world of one when not launched by ``torchrun``."""
    world = from_env()
    if not world.distributed:
        return world
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if device not in ("auto", "cpu", "cuda"):
        raise config_error(
            "train.device under torchrun",
            '"auto", "cpu" or "cuda" (each process takes cuda:LOCAL_RANK)',
            repr(device),
            'set train.device = "auto"',
        )
    world.backend = "nccl" if cuda else "gloo"
    if cuda:
        gpus = torch.cuda.device_count()
        if world.local_rank >= gpus:
            raise config_error(
                "torchrun --nproc_per_node",
                f"at most one process per GPU ({gpus} GPU(s) here; NCCL cannot share one)",
                f"local rank {world.local_rank}",
                f'use --nproc_per_node {gpus}, or set train.device = "cpu" for gloo on CPU',
            )
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(world.backend, timeout=datetime.timedelta(minutes=30))
    logger.info(
        "distributed: rank %d of %d (%s, local rank %d)",
        world.rank,
        world.size,
        world.backend,
        world.local_rank,
    )
    return world


def device_for(world: World, device: torch.device) -> torch.device:
    """Each process's own GPU under NCCL; unchanged otherwise."""
    if world.backend == "nccl":
        return torch.device("cuda", world.local_rank)
    return device


def teardown(world: World, clean: bool = True) -> None:
    """Leave the process group: after a barrier when the run ended ``clean``; at once after
    an error, which may have struck this rank alone (rank 0 writing to a full disk) while the
    others wait in another collective: torchrun then stops them when this process exits."""
    if world.distributed and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()
