"""Data-parallel training across processes, on one machine or several (``torchrun``).

Every process holds the whole model and computes the gradients of its share of each batch;
:meth:`World.average_gradients` all-reduces them before clipping and the optimizer step, so
every process takes the same step and the replicas stay identical without ever being copied.
``--batch`` stays the batch of one step across all processes, and a run on N processes computes
what one process computes with that batch (``tests/test_distributed.py``): the crops are drawn
from one shared stream and each process cuts its share (:class:`codec.train.data.CropSampler`),
the training noise is drawn per crop (:func:`codec.entropy.training_noise`), the rank that holds
the batch's first crop computes the contractive term for all, and the budget is read from rank
0's clock. Rank 0 alone logs, validates, checkpoints and exports.

The processes meet through torch.distributed's usual environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), which ``torchrun`` sets: gloo on CPUs, NCCL
on GPUs. Without it a run is one process and nothing here talks to anything.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

# Rank 0 validates and measures Kodak while the others wait at the next step's all-reduce: the
# final Kodak figures at eight levels take minutes on a slow CPU.
TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_environment(cls) -> World:
        """The processes torchrun started (one alone without it); joins their group."""
        env = os.environ
        size = int(env.get("WORLD_SIZE", "1"))
        return cls(int(env.get("RANK", "0")), size, int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", "1")))

    def join(self, device: torch.device) -> None:
        """Join the process group (gloo for CPUs, NCCL for GPUs); nothing when alone."""
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT,
                                    **({"device_id": device} if device.type == "cuda" else {}))

    def leave(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def threads(self) -> int:
        """The default threads of a process: the cores it may use (``taskset`` counts), shared
        among the processes on its machine, since two processes that each take every core slow
        each other down many times."""
        return max(1, len(os.sched_getaffinity(0)) // self.local_size)

    def device(self, requested: torch.device) -> torch.device:
        """Each process on a machine takes its own GPU (``--device cuda``); CPUs are shared."""
        if requested.type == "cuda" and requested.index is None and self.local_size > 1:
            return torch.device("cuda", self.local_rank)
        return requested

    def share(self, batch: int) -> range:
        """Which crops of a ``batch`` this process computes: a contiguous slice, equal for all."""
        if batch % self.size:
            raise ValueError(f"--batch {batch} does not split over {self.size} processes: give a multiple of {self.size}")
        n = batch // self.size
        return range(self.rank * n, (self.rank + 1) * n)

    def average_gradients(self, params: list[nn.Parameter]) -> None:
        """Replace each gradient by its mean over the processes, in one all-reduce. The losses
        are means over each process's crops, so the mean of the gradients is the gradient of the
        whole batch's loss. Parameters without a gradient (the same on every process: the same
        code runs) are left without one."""
        if self.size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view(g.shape))
            offset += g.numel()

    def broadcast(self, *modules: nn.Module) -> None:
        """Rank 0's parameters and buffers to everyone: the same start even where a random
        initialisation were drawn differently."""
        if self.size == 1:
            return
        for module in modules:
            for t in list(module.parameters()) + list(module.buffers()):
                with torch.no_grad():
                    dist.broadcast(t.data, 0)

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every process: the fraction of the budget spent, which sets the
        learning rate and the end, is read from one clock."""
        if self.size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64,
                         device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.broadcast(t, 0)
        return float(t.item())

    def gather(self, t: Tensor) -> list[Tensor]:
        """Every process's ``t`` (of the same shape), on every process."""
        if self.size == 1:
            return [t]
        out = [torch.empty_like(t) for _ in range(self.size)]
        dist.all_gather(out, t)
        return out


ALONE = World()
