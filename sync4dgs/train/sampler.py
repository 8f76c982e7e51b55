"""Seeded sampling of training views (CPU generator) and backgrounds (device generator); states go into checkpoints."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


class ViewSampler:
    """Random (camera, frame) pairs: a seeded permutation of every ELIGIBLE training frame, reshuffled each epoch.

    Every view is eligible unless :meth:`set_eligible` restricts them (the progressive time window,
    sync4dgs.train.progressive); a change of the eligible set starts a new permutation of the new set at once.

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
        self._eligible: Tensor | None = None                 # [F] bool, None = every view
        self.generator = torch.Generator().manual_seed(int(seed))
        self._perm = self._shuffle()                          # [F'] indices into _pairs
        self._pos = 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._pairs)

    @property
    def pairs(self) -> Tensor:
        """[F, 2] long (cam_pos, frame_idx) of every view, in the order :meth:`set_eligible` masks refer to."""
        return self._pairs

    @property
    def eligible(self) -> Tensor:
        """[F] bool: the views the sampler currently draws from."""
        return self._eligible if self._eligible is not None else torch.ones(len(self._pairs), dtype=torch.bool)

    @property
    def n_eligible(self) -> int:
        return len(self._pairs) if self._eligible is None else int(self._eligible.sum())

    def _shuffle(self) -> Tensor:
        if self._eligible is None:
            return torch.randperm(len(self._pairs), generator=self.generator)
        idx = torch.nonzero(self._eligible).flatten()
        return idx[torch.randperm(len(idx), generator=self.generator)]

    def set_eligible(self, mask: Tensor | np.ndarray | None) -> bool:
        """Draw only from the views where ``mask`` [F] is True (None or all True = every view).

        Returns True when the set changed; a new permutation of the new set then starts immediately.
        """
        if mask is not None:
            mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool).flatten()
            if mask.shape != (len(self._pairs),):
                raise ValueError(f"eligibility mask must have {len(self._pairs)} entries, got {tuple(mask.shape)}")
            if not bool(mask.any()):
                raise ValueError("eligibility mask selects no view")
            if bool(mask.all()):
                mask = None
        if (mask is None and self._eligible is None) or (
                mask is not None and self._eligible is not None and torch.equal(mask, self._eligible)):
            return False
        self._eligible = mask
        self._perm = self._shuffle()
        self._pos = 0
        return True

    def next(self) -> tuple[int, int]:
        """(cam_pos, frame_idx) of the next training view."""
        if self._pos >= len(self._perm):
            self._perm = self._shuffle()
            self._pos = 0
            self.epoch += 1
        cam, frame = self._pairs[self._perm[self._pos]].tolist()
        self._pos += 1
        return int(cam), int(frame)

    def peek(self, ahead: int = 0) -> tuple[int, int] | None:
        """(cam_pos, frame_idx) that the ``ahead``-th next call of :meth:`next` will return, without advancing;
        None when that lies past the current epoch (the next permutation is not drawn early) — used to prefetch
        the next frame."""
        if self._pos + ahead >= len(self._perm):
            return None
        cam, frame = self._pairs[self._perm[self._pos + ahead]].tolist()
        return int(cam), int(frame)

    def state_dict(self) -> dict[str, Any]:
        d = {"generator": self.generator.get_state(), "perm": self._perm.clone(), "pos": self._pos,
             "epoch": self.epoch}
        if self._eligible is not None:
            d["eligible"] = self._eligible.clone()
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.generator.set_state(d["generator"].cpu())
        self._perm = d["perm"].cpu().clone()
        self._pos = int(d["pos"])
        self.epoch = int(d["epoch"])
        self._eligible = d["eligible"].cpu().clone().bool() if d.get("eligible") is not None else None


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
