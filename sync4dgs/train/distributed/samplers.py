"""Per-rank views of the shared, seeded samplers.

Every rank holds the same seeded :class:`~sync4dgs.train.sampler.ViewSampler` /
:class:`~sync4dgs.train.sampler.BackgroundSampler`, draws the same global batch of ``world_size`` items per
iteration and keeps item ``rank``. The union over ranks of one iteration is therefore exactly what a single
process drawing ``world_size`` items in a row would see, and the sampler state (the base sampler's) is global:
a checkpoint resumes on any number of ranks.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from sync4dgs.train.sampler import BackgroundSampler, ViewSampler


def _check_slot(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not a slot of a world of size {world_size}")


class RankSlotViewSampler:
    """(cam_pos, frame_idx) of this rank's slot in each global batch of ``world_size`` training views."""

    def __init__(self, base: ViewSampler, rank: int, world_size: int):
        _check_slot(rank, world_size)
        self.base, self.rank, self.world_size = base, rank, world_size

    def __len__(self) -> int:
        return len(self.base)

    def next_batch(self) -> list[tuple[int, int]]:
        """The whole global batch (``world_size`` pairs, slot order)."""
        return [self.base.next() for _ in range(self.world_size)]

    def next(self) -> tuple[int, int]:
        return self.next_batch()[self.rank]

    def peek(self) -> tuple[int, int] | None:
        """This rank's view of the next batch without advancing (None across an epoch boundary)."""
        return self.base.peek(self.rank)

    @property
    def epoch(self) -> int:
        return self.base.epoch

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.base.load_state_dict(d)


class RankSlotBackground:
    """This rank's slot of each global batch of ``world_size`` backgrounds ([3] tensors on the device)."""

    def __init__(self, base: BackgroundSampler, rank: int, world_size: int):
        _check_slot(rank, world_size)
        self.base, self.rank, self.world_size = base, rank, world_size

    @property
    def random(self) -> bool:
        return self.base.random

    def next(self) -> Tensor:
        if not self.base.random:
            return self.base.next()
        return [self.base.next() for _ in range(self.world_size)][self.rank]

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.base.load_state_dict(d)
