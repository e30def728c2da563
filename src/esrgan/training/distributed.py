"""Several processes, one model: PyTorch DistributedDataParallel as `torchrun` starts it.

One machine:   torchrun --nproc_per_node=N -m esrgan train CONFIG
Several:       torchrun --nnodes=M --nproc_per_node=N --node_rank=R --rdzv_backend=c10d \
                   --rdzv_endpoint=HOST:PORT -m esrgan train CONFIG      (the same command on every node)

Each process reads RANK / WORLD_SIZE / LOCAL_RANK from the environment torchrun sets, takes GPU LOCAL_RANK
(NCCL) or the CPU (gloo), and trains on its share of every global batch; DDP averages the gradients, so
the result equals one process with the whole batch. Only rank 0 logs, validates and writes checkpoints.
Without those variables everything here is a single-process no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from esrgan.defaults import Device
from esrgan.hardware import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def any(self, *flags: bool) -> list[bool]:
        """For each flag: is it set on any process? One collective for all of them."""
        if not self.enabled:
            return list(flags)
        values = torch.tensor([float(flag) for flag in flags], device=self.device)
        torch_dist.all_reduce(values, op=torch_dist.ReduceOp.MAX)
        return [bool(v) for v in values.tolist()]

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around `module` in a distributed run; the module itself otherwise."""
        if not self.enabled:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)


def init_distributed(device_choice: Device) -> Distributed:
    """Join the process group that torchrun describes in the environment, or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_choice, local_rank)
    if world_size > 1 and not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world_size, local_rank, device)


def shutdown(dist: Distributed) -> None:
    if dist.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
