"""Helpers for training features that own their optimiser (camera refinement, appearance): which process writes
files, and one all-reduce that gives every rank the mean gradient. Single-process runs never touch
torch.distributed."""

from __future__ import annotations

import torch
from torch import Tensor


def world_size() -> int:
    """Number of ranks of the current torch.distributed job (1 without one)."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a torch.distributed job."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def mean_gradients_over_ranks(params: list[Tensor]) -> None:
    """Give every ``param.grad`` (missing ones become zeros) the mean over ranks, in one all-reduce bucket."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    world = world_size()
    if world > 1:
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        torch.distributed.all_reduce(flat)
        flat /= world
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view_as(p))
