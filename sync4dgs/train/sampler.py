"""Seeded sampling of training views (CPU generator) and backgrounds (device generator); states go into checkpoints."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ViewSampler:
    """Random (camera, frame) pairs: a seeded permutation of every training frame, reshuffled each epoch.

    Args:
        n_frames: frames per training camera (cam_pos order).
        seed: generator seed.
    """

    def __init__(self, n_frames: list[int], seed: int):
        if not n_frames or min(n_frames) <= 0:
            raise ValueError(f"every training camera needs frames, got {n_frames}")
        cams = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(n_frames)])
        frames = torch.cat([torch.arange(n, dtype=torch.long) for n in n_frames])
        self._pairs = torch.stack([cams, frames], 1)          # [F, 2]
        self.generator = torch.Generator().manual_seed(int(seed))
        self._perm = torch.randperm(len(self._pairs), generator=self.generator)
        self._pos = 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._pairs)

    def next(self) -> tuple[int, int]:
        """(cam_pos, frame_idx) of the next training view."""
        if self._pos >= len(self._perm):
            self._perm = torch.randperm(len(self._pairs), generator=self.generator)
            self._pos = 0
            self.epoch += 1
        cam, frame = self._pairs[self._perm[self._pos]].tolist()
        self._pos += 1
        return int(cam), int(frame)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self._perm.clone(), "pos": self._pos,
                "epoch": self.epoch}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.generator.set_state(d["generator"].cpu())
        self._perm = d["perm"].cpu().clone()
        self._pos = int(d["pos"])
        self.epoch = int(d["epoch"])


class BackgroundSampler:
    """Uniform random RGB backgrounds (seeded, drawn on ``device``) or one fixed colour, as [3] tensors."""

    def __init__(self, random: bool, fixed: list[float], seed: int, device: torch.device):
        if len(fixed) != 3:
            raise ValueError(f"train.background must have 3 values, got {fixed}")
        self.random = random
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(int(seed) + 1)   # on the device: no copies
        self._fixed = torch.tensor(fixed, dtype=torch.float32, device=device)

    def next(self) -> Tensor:
        if not self.random:
            return self._fixed
        return torch.rand(3, generator=self.generator, device=self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.generator.set_state(d["generator"].cpu())
