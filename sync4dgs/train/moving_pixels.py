"""Moving pixels of a training frame, for a loss term that weights them up (config ``loss.moving_l1``).

Why: moving objects cover a few % of a frame (3-9 % on our benchmark scenes), so the plain photometric loss gives
them a few % of its gradient and a small fast object (a ball a few pixels across) is never fitted sharply. The
mask is the same definition as the moving-region metrics and the seeding (sync4dgs/data/motion_mask.py), from the
training video itself: a pixel is moving when it differs from its camera's per-pixel temporal median by more than
``threshold`` in some channel, here dilated by ``dilate_px`` so the object's edges count too.

The medians are computed once per training camera from the trainer's frame bank (at most 48 evenly spaced
frames, full resolution, on the training device; float32 [H, W, 3] in 0..255 kept, the mean of the two middle
values for an even count as numpy's median: 16 MB per 1352x1014 camera).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.data.motion_mask import median_frame_indices
from sync4dgs.train.framebank import FrameBank

MEDIAN_FRAMES = 48


class MovingPixels:
    """Per training camera (frame-bank position), the temporal median; :meth:`mask` of a frame against it."""

    def __init__(self, frames: FrameBank, threshold: float = 0.1, dilate_px: int = 2):
        if not 0 < threshold < 1:
            raise ValueError(f"loss.moving_threshold must be in (0, 1), got {threshold}")
        if dilate_px < 0:
            raise ValueError(f"loss.moving_dilate_px must be >= 0, got {dilate_px}")
        self.threshold_255 = threshold * 255.0
        self.dilate_px = int(dilate_px)
        self.medians: list[Tensor] = [self._median(frames, pos) for pos in range(len(frames))]

    @staticmethod
    def _median(frames: FrameBank, pos: int) -> Tensor:
        """float32 [H, W, 3] (0..255) per-pixel median of camera ``pos``'s evenly spaced frames, on the bank's
        device."""
        idx = median_frame_indices(frames.n_frames(pos), MEDIAN_FRAMES)
        stack = torch.stack([torch.as_tensor(np.asarray(f) if not isinstance(f, Tensor) else f).to(frames.device)
                             for f in (frames.peek(pos, int(i)) for i in idx)])
        ordered = stack.sort(dim=0).values.float()
        n = ordered.shape[0]
        return ((ordered[(n - 1) // 2] + ordered[n // 2]) * 0.5).contiguous()

    def mask(self, cam_pos: int, gt: Tensor) -> Tensor:
        """bool [H, W]: moving pixels of ``gt`` (float [H, W, 3] in [0, 1], a frame of camera ``cam_pos``)."""
        med = self.medians[cam_pos]
        if med.shape != gt.shape:
            raise ValueError(f"frame {tuple(gt.shape)} does not match camera {cam_pos}'s median {tuple(med.shape)}")
        moving = ((gt * 255.0 - med).abs() > self.threshold_255).any(dim=-1)
        if self.dilate_px > 0:
            k = 2 * self.dilate_px + 1
            moving = F.max_pool2d(moving[None, None].to(gt.dtype), k, stride=1, padding=self.dilate_px)[0, 0] > 0
        return moving
