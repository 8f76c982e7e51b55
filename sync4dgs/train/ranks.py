"""Which process of a torch.distributed job this is (features write their files on rank 0 only). Gradients are
averaged over ranks in one place: sync4dgs/train/distributed/hooks.py. Single-process runs never touch
torch.distributed."""

from __future__ import annotations

import torch


def world_size() -> int:
    """Number of ranks of the current torch.distributed job (1 without one)."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a torch.distributed job."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
