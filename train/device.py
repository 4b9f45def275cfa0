"""Where training runs: device choice, mixed precision, and the distributed (torchrun) process group.

API (shared by the pose and ReID trainers):

- `select_device(name="auto") -> torch.device`: "auto" picks CUDA when available (this process's
  LOCAL_RANK GPU under torchrun), else CPU; "cpu", "cuda", "cuda:1" are taken as given.
- `amp_enabled(device, requested=True) -> bool`: mixed precision only on CUDA (CPU autocast is slower than
  fp32 for these convolutional nets, so it is never used).
- `autocast(device, enabled)`: the matching `torch.autocast` context (a no-op when disabled).
- `DistInfo` / `init_distributed(device) -> DistInfo`: joins the process group when torchrun set
  WORLD_SIZE > 1 (NCCL on CUDA, Gloo on CPU), otherwise returns a single-process DistInfo.
  `dist.is_main` is the one process that writes files and prints.
- `barrier(dist)`, `cleanup_distributed(dist)`, `seed_everything(seed, rank=0)`.
"""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch


def select_device(name: str = "auto") -> torch.device:
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def amp_enabled(device: torch.device, requested: bool = True) -> bool:
    return bool(requested) and device.type == "cuda"


def autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device | None = None) -> DistInfo:
    """Join torchrun's process group (idempotent). Single process when WORLD_SIZE is unset or 1."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size <= 1:
        return DistInfo()
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    if not dist.is_initialized():
        on_cuda = device is not None and device.type == "cuda"
        if on_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        dist.barrier()


def cleanup_distributed(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch; each rank gets a different stream so augmentations differ."""
    seed = int(seed) + 1000 * int(rank)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
