"""Data-parallel training under torchrun (PyTorch DistributedDataParallel): NCCL on GPUs, gloo on CPU.

`lumicrs train` runs unchanged with `torchrun --nproc_per_node N` (and torchrun's rendezvous flags for several
nodes). Every rank draws the same global batch order; rank r trains on rows r, r+N, ... of each global batch and
DDP averages the gradients, with the local loss scaled so the step equals the single-process step on the whole batch
(for losses that are means over rows). Validation runs on every rank (same decision everywhere); the database, the
checkpoints and the final evaluation are rank 0's.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's rows of a global batch."""
        return idx[self.rank::self.size] if self.distributed else idx

    def loss_scale(self, local: int, global_: int) -> float:
        """Local mean loss x this makes DDP's gradient average equal the global-batch mean gradient."""
        return local * self.size / global_ if self.distributed and global_ else 1.0


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when there is one, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def setup(device_name: str) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a single-process world."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), resolve_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=30))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    return World(dist.get_rank(), dist.get_world_size(), local_rank), device


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # DDP broadcasts rank 0's buffers at start and cannot send a sparse one (the KG's adjacency matrices); each rank
    # builds those from the same facts, so they are left out of the broadcast rather than sent
    sparse = [name for name, buffer in model.named_buffers() if buffer.is_sparse]
    if sparse:
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, sparse)
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def gather_objects(value: Any, world: World) -> list[Any]:
    if not world.distributed:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value)
    return out


def broadcast_object(value: Any, world: World) -> Any:
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
