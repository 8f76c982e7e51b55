"""Per-pixel weights of the L1 loss that favour moving pixels (config ``loss.moving_weight``; 0 = off).

Why: moving content is a few % of a frame (3-9 % on the benchmark scenes), so an unweighted loss spends almost all
of its gradient on the static world, and a small fast object, seen for a frame or two by each camera, gets little.
The weight of a pixel is ``1 + moving_weight`` where the training frame shows moving content and 1 elsewhere:

* moving content is defined as everywhere in the product (sync4dgs/data/motion_mask.py): the recorded colour
  differs from the camera's own per-pixel temporal median by more than ``moving_threshold`` in some channel, here
  with the mask dilated by ``dilate_px`` pixels (the object's soft edge, and a render that is a pixel off);
* the median of each training camera is computed once, lazily at its first sample, from at most
  ``MAX_MEDIAN_FRAMES`` evenly spaced frames of the frame bank (the training frames as the loss sees them).

Nothing depends on how the frames were made; held-out cameras are never read. Shapes: frames [H, W, 3] float in
[0, 1]; weights [H, W, 1] float (broadcast over RGB).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.data.motion_mask import median_frame_indices
from sync4dgs.train.framebank import FrameBank

MAX_MEDIAN_FRAMES = 64      # as the moving-pixel masks of metrics and seeding (sync4dgs/data/motion_mask.py)


def median_background(frames: list[Tensor]) -> Tensor:
    """Per-pixel median [H, W, 3] float32 in [0, 1] of uint8 frames [H, W, 3], as numpy's (the mean of the two
    middle values for an even count), so the weights mark the pixels the moving-region metrics call moving."""
    stack = torch.stack([f if f.dtype == torch.uint8 else (f.clamp(0, 1) * 255).round().to(torch.uint8)
                         for f in frames])
    n = stack.shape[0]
    lower = stack.kthvalue((n + 1) // 2, dim=0).values.float()
    upper = stack.kthvalue(n // 2 + 1, dim=0).values.float() if n % 2 == 0 else lower
    return (lower + upper).div_(2 * 255.0)


def moving_pixel_weights(gt: Tensor, background: Tensor, weight: float, threshold: float, dilate_px: int) -> Tensor:
    """[H, W, 1] float: 1 + ``weight`` where ``gt`` [H, W, 3] differs from ``background`` [H, W, 3] by more than
    ``threshold`` in some channel (dilated by ``dilate_px`` pixels), else 1."""
    mask = ((gt - background).abs() > threshold).any(dim=-1).to(gt.dtype)          # [H, W]
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        mask = F.max_pool2d(mask[None, None], k, stride=1, padding=dilate_px)[0, 0]
    return (1.0 + weight * mask)[..., None]


class MovingPixelWeights:
    """L1 weights of the training frames (see the module docstring).

    Args:
        frames: the training frame bank (``cam_pos`` as the trainer indexes it).
        weight: extra weight of a moving pixel (``loss.moving_weight``, > 0).
        threshold: colour difference (0..1) that makes a pixel moving (``moving.threshold``).
        dilate_px: mask dilation in training pixels.
    """

    def __init__(self, frames: FrameBank, weight: float, threshold: float, dilate_px: int = 2):
        if not weight > 0:
            raise ValueError(f"loss.moving_weight must be > 0 to build weights, got {weight}")
        self.frames = frames
        self.weight = float(weight)
        self.threshold = float(threshold)
        self.dilate_px = int(dilate_px)
        self._backgrounds: dict[int, Tensor] = {}

    def background(self, cam_pos: int) -> Tensor:
        """[H, W, 3] float32 temporal median of training camera ``cam_pos`` on the frames' device (cached)."""
        if cam_pos not in self._backgrounds:
            idx = median_frame_indices(self.frames.n_frames(cam_pos), MAX_MEDIAN_FRAMES)
            device = self.frames.device
            frames = [torch.as_tensor(self.frames.peek(cam_pos, int(i))).to(device) for i in idx]
            self._backgrounds[cam_pos] = median_background(frames)
        return self._backgrounds[cam_pos]

    def at(self, cam_pos: int, gt: Tensor) -> Tensor:
        """[H, W, 1] weights of training camera ``cam_pos``'s frame ``gt`` [H, W, 3] float in [0, 1]."""
        return moving_pixel_weights(gt, self.background(cam_pos), self.weight, self.threshold, self.dilate_px)
