"""Data-parallel training across processes started by torchrun: the process group and each rank's share.

``torchrun --nproc_per_node=N -m forecaster run CONFIG`` starts N copies of the CLI with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each copy joins one process group (NCCL on CUDA, gloo on CPU),
trains on its slice of every global batch under ``DistributedDataParallel``, which averages the
gradients, so all copies keep identical weights; only rank 0 writes results. ``session()`` is the
lifetime of one such command.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist


def start_from_environment() -> bool:
    """Join the process group that torchrun describes in the environment; False when not under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    return True


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def session() -> Iterator[None]:
    """A training command's lifetime: in torchrun's process group when torchrun started it, SIGTERM as Ctrl-C.

    torchrun stops its workers with SIGTERM, and so does ``kill``: raised as KeyboardInterrupt, it reaches
    the same handler as Ctrl-C, so an interrupted run keeps its finished models (runs/progress.py) either
    way. The previous SIGTERM handler is restored and the process group left when the block ends.
    """
    start_from_environment()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def local_rank() -> int:
    """This process's index on its own machine: which GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that prints and writes results."""
    return rank() == 0


def local_share(batch: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a global batch (every world_size-th row), so that ranks never overlap."""
    return batch[rank() :: world_size()]


def sum_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over all ranks (itself in a single process)."""
    if dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def from_main_process(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank, so that decisions such as early stopping agree everywhere."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())
