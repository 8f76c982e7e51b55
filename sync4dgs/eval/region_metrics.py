"""PSNR and SSIM restricted to a region of the image (moving / static pixels), and their split aggregates.

Definitions (also in every results.json, :data:`REGION_CONVENTIONS`):

* A region is a bool mask [H, W] of one image; it covers all three channels of its pixels.
* Masked PSNR of one image = ``10 log10(1 / MSE)`` with the MSE over the region's pixels and all channels
  (float64, data range 1), capped at ``PSNR_CAP_DB`` like the full-frame PSNR. A split's value is the MEAN OVER
  FRAMES of these per-image values (the full-frame convention), over the frames whose region is not empty;
  frames with an empty region are skipped and counted (``n_empty``). Per-image averaging weights every frame
  equally, whether the object covers 1 % or 10 % of it: the number answers "how good is the moving content of
  a typical frame", not "of the pooled moving pixels".
* Masked SSIM = mean of the full-frame SSIM map (:func:`sync4dgs.eval.image_metrics.ssim_map`, averaged over
  RGB) over the region's pixels. The map only exists on the "valid" region (a 3 px border cropped), so a
  window counts when its centre pixel is in the region; frames whose region has no pixel inside the border are
  skipped for SSIM (``n_images_ssim`` counts the ones used).
* ``coverage`` = fraction of the image's pixels in the region, averaged over ALL frames (empty ones too).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

from sync4dgs.eval.image_metrics import PSNR_CAP_DB, SSIM_WIN, psnr_from_mse

REGION_CONVENTIONS = {
    "regions": "moving / static: pixels of the test camera's ground-truth frame that differ from the camera's "
               "own per-pixel temporal median (over all its frames, at most 64 evenly spaced) by more than 0.1 "
               "in some channel (sync4dgs/data/motion_mask.py), and the complement; moving_true / static_true: "
               "the synthetic generator's true masks (a pixel is moving when one of its supersampled rays hits "
               "a moving object in front of the static scene), only for scenes with gt_masks/",
    "region_psnr": f"per image 10*log10(1/MSE) over the region's pixels and all channels, capped at "
                   f"{PSNR_CAP_DB:g} dB; split value = mean over frames whose region is not empty (n_empty "
                   "frames skipped)",
    "region_ssim": "mean of the SSIM map (data_range 1, as 'ssim', averaged over RGB) over the region's pixels "
                   "inside the 3 px valid border; mean over frames (n_images_ssim frames had such pixels)",
    "region_coverage": "fraction of pixels in the region, mean over all frames",
}


def _masks_batch(mask: Tensor, shape: torch.Size) -> Tensor:
    """bool [H, W] or [B, H, W] -> bool [B, H, W] matching images of ``shape`` [B, H, W, 3]."""
    if mask.ndim == 2:
        mask = mask[None]
    if mask.shape != shape[:3]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match images {tuple(shape)}")
    return mask.to(torch.bool)


def masked_psnr(a: Tensor, b: Tensor, mask: Tensor, data_range: float = 1.0,
                cap_db: float = PSNR_CAP_DB) -> Tensor:
    """Per-image PSNR [B] (float64, dB) over the pixels where ``mask`` is True; NaN for an empty mask.

    a, b: [H, W, 3] or [B, H, W, 3] in [0, data_range]; mask: bool [H, W] or [B, H, W].
    """
    a = (a[None] if a.ndim == 3 else a).to(torch.float64)
    b = (b[None] if b.ndim == 3 else b).to(torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    m = _masks_batch(mask.to(a.device), a.shape)
    sq = ((a - b) ** 2).sum(-1)                                  # [B, H, W]
    n = m.flatten(1).sum(1).to(torch.float64)                   # masked pixels per image
    mse = (sq * m).flatten(1).sum(1) / (3.0 * n.clamp(min=1.0))
    return torch.where(n > 0, psnr_from_mse(mse, data_range, cap_db), torch.full_like(mse, math.nan))


def valid_region(mask: Tensor, win_size: int = SSIM_WIN) -> Tensor:
    """bool [B, H, W] -> [B, H - win_size + 1, W - win_size + 1]: the mask at the centres of the SSIM windows."""
    r = win_size // 2
    h, w = mask.shape[-2] - win_size + 1, mask.shape[-1] - win_size + 1
    return mask[..., r:r + h, r:r + w]


def masked_ssim(smap: Tensor, mask: Tensor, win_size: int = SSIM_WIN) -> Tensor:
    """Per-image mean [B] (float64) of an SSIM map ``smap`` [B, 3, h, w] (:func:`ssim_map`) over the region
    ``mask`` (bool [H, W] or [B, H, W] of the full image); NaN where no window centre lies in the region."""
    m = mask[None] if mask.ndim == 2 else mask
    m = valid_region(m.to(device=smap.device, dtype=torch.bool), win_size)
    if m.shape != (smap.shape[0], *smap.shape[2:]):
        raise ValueError(f"mask {tuple(mask.shape)} does not match the SSIM map {tuple(smap.shape)}")
    per_pixel = smap.to(torch.float64).mean(1)                  # [B, h, w], mean over RGB
    n = m.flatten(1).sum(1).to(torch.float64)
    val = (per_pixel * m).flatten(1).sum(1) / n.clamp(min=1.0)
    return torch.where(n > 0, val, torch.full_like(val, math.nan))


def region_values(a: Tensor, b: Tensor, smap: Tensor, masks: Mapping[str, Tensor]) -> dict[str, dict[str, Any]]:
    """Metrics of one image pair a, b [H, W, 3] in [0, 1] (with its SSIM map [1, 3, h, w]) in every region.

    masks: {region name: bool [H, W]}. Returns {region: {"psnr": dB | None, "ssim": value | None, "coverage":
    fraction of pixels}}; None marks a region without pixels (see module docstring).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, mask in masks.items():
        p = float(masked_psnr(a, b, mask)[0])
        s = float(masked_ssim(smap, mask)[0])
        out[name] = {"psnr": p if math.isfinite(p) else None, "ssim": s if math.isfinite(s) else None,
                     "coverage": float(mask.to(torch.float64).mean())}
    return out


def aggregate_regions(rows: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Split (or camera) aggregate of per-image :func:`region_values`: per region {"psnr", "ssim" (means over
    the frames where they exist, None if none), "coverage" (mean over all frames), "n_images" (frames with a
    PSNR), "n_images_ssim", "n_empty" (frames without region pixels)}. Regions missing from some frames (e.g. no
    true mask for a camera) are aggregated over the frames that have them."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        for name, vals in row.items():
            groups.setdefault(name, []).append(vals)
    out: dict[str, dict[str, Any]] = {}
    for name, vals in groups.items():
        psnrs = [v["psnr"] for v in vals if v["psnr"] is not None]
        ssims = [v["ssim"] for v in vals if v["ssim"] is not None]
        out[name] = {"psnr": float(np.mean(psnrs)) if psnrs else None,
                     "ssim": float(np.mean(ssims)) if ssims else None,
                     "coverage": float(np.mean([v["coverage"] for v in vals])),
                     "n_images": len(psnrs), "n_images_ssim": len(ssims), "n_empty": len(vals) - len(psnrs)}
    return out
