"""Full-reference image metrics: PSNR, SSIM (scikit-image convention, in torch) and FLIP.

Conventions (also written into every results.json, see :data:`METRIC_CONVENTIONS`):

* Images are RGB floats in [0, 1], layout [H, W, 3] (or batched [B, H, W, 3]); data_range = 1.
* PSNR of one image is ``10 log10(1 / MSE)`` with the MSE over all pixels and channels, computed in float64.
  Identical images (MSE = 0) have infinite PSNR; we cap every per-image PSNR at :data:`PSNR_CAP_DB` = 100 dB so
  that results are always finite. A split's PSNR is the MEAN OVER FRAMES of per-image PSNR (3DGS / Ex4DGS),
  not the PSNR of the pooled MSE.
* SSIM is scikit-image's ``structural_similarity(a, b, data_range=1, channel_axis=-1)`` with its defaults:
  uniform 7x7 window (``gaussian_weights=False``), sample covariance (N/(N-1), N = 49), K1 = 0.01, K2 = 0.03,
  mean over the "valid" region (3 px border cropped) and over channels. This is Ex4DGS's "SSIM1" (the paper's
  SSIM column); ``data_range=2`` gives their "SSIM2".
* FLIP is NVIDIA's LDR-FLIP (flip-evaluator, no learned weights), mean of the error map; lower is better.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PSNR_CAP_DB = 100.0
SSIM_WIN = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03

METRIC_CONVENTIONS = {
    "images": "RGB in [0, 1] read from the 8-bit PNGs in renders/ and gt/ (3DGS metrics.py convention)",
    "psnr": f"per image 10*log10(1/MSE) over all pixels and channels (data_range 1), capped at {PSNR_CAP_DB:g} dB "
            "for identical images; split value = mean over frames of per-image PSNR",
    "ssim": "scikit-image structural_similarity, data_range=1, uniform 7x7 window (gaussian_weights=False), "
            "sample covariance, K1=0.01, K2=0.03, averaged over RGB = Ex4DGS 'SSIM1' (torch re-implementation, "
            "tested against skimage); mean over frames",
    "ssim2": "as ssim with data_range=2 (Ex4DGS 'SSIM2'); mean over frames",
    "flip": "NVIDIA FLIP, LDR mode, sRGB inputs, default 67 pixels per degree (flip-evaluator); mean error map; "
            "lower is better; mean over frames",
    "lpips_alex": "LPIPS v0.1 with an AlexNet backbone, inputs scaled to [-1, 1] (lpips package convention); "
                  "only when weights are supplied (see 'lpips' entry)",
}


def _as_batch(img: Tensor) -> Tensor:
    """[H, W, 3] or [B, H, W, 3] -> [B, H, W, 3] float64."""
    if img.ndim == 3:
        img = img[None]
    if img.ndim != 4 or img.shape[-1] != 3:
        raise ValueError(f"expected images [H, W, 3] or [B, H, W, 3], got shape {tuple(img.shape)}")
    return img.to(torch.float64)


def mse(a: Tensor, b: Tensor) -> Tensor:
    """Per-image mean squared error [B] (float64) of images [B, H, W, 3] or [H, W, 3]."""
    a, b = _as_batch(a), _as_batch(b)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return ((a - b) ** 2).flatten(1).mean(1)


def psnr_from_mse(m: Tensor | float, data_range: float = 1.0, cap_db: float = PSNR_CAP_DB) -> Tensor:
    """PSNR in dB from MSE, capped at ``cap_db`` (so MSE = 0 gives exactly ``cap_db``, never inf)."""
    m = torch.as_tensor(m, dtype=torch.float64)
    floor = data_range ** 2 * 10.0 ** (-cap_db / 10.0)       # the MSE at which PSNR reaches the cap
    return 10.0 * torch.log10(data_range ** 2 / torch.clamp(m, min=floor))


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0, cap_db: float = PSNR_CAP_DB) -> Tensor:
    """Per-image PSNR [B] in dB (float64), capped at ``cap_db``."""
    return psnr_from_mse(mse(a, b), data_range, cap_db)


def ssim_maps(a: Tensor, b: Tensor, data_ranges: tuple[float, ...] = (1.0,),
              win_size: int = SSIM_WIN) -> list[Tensor]:
    """Per-pixel SSIM maps [B, 3, H - win_size + 1, W - win_size + 1] (float64), one per data range, in
    scikit-image's convention; the local means and (co)variances are computed once for all of them.

    a, b: [H, W, 3] or [B, H, W, 3] in [0, data_range]. H and W must be >= ``win_size``. Map pixel (i, j) is the
    SSIM of the window whose top-left corner is image pixel (i, j), i.e. centred on image pixel
    (i + win_size // 2, j + win_size // 2) (the "valid" region: a ``win_size // 2`` border is cropped).
    """
    a, b = _as_batch(a), _as_batch(b)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if min(a.shape[1], a.shape[2]) < win_size:
        raise ValueError(f"SSIM needs images of at least {win_size}x{win_size}, got {a.shape[2]}x{a.shape[1]}")
    x = a.permute(0, 3, 1, 2)                                 # [B, 3, H, W]
    y = b.permute(0, 3, 1, 2)
    n = win_size * win_size
    cov_norm = n / (n - 1.0)

    def box(z: Tensor) -> Tensor:                              # uniform filter, "valid" region only
        return F.avg_pool2d(z, win_size, stride=1)

    ux, uy = box(x), box(y)
    vx = cov_norm * (box(x * x) - ux * ux)
    vy = cov_norm * (box(y * y) - uy * uy)
    vxy = cov_norm * (box(x * y) - ux * uy)
    out = []
    for data_range in data_ranges:
        c1 = (SSIM_K1 * data_range) ** 2
        c2 = (SSIM_K2 * data_range) ** 2
        out.append(((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2)))
    return out


def ssim_map(a: Tensor, b: Tensor, data_range: float = 1.0, win_size: int = SSIM_WIN) -> Tensor:
    """Per-pixel SSIM map [B, 3, H - win_size + 1, W - win_size + 1] (float64) of one data range
    (:func:`ssim_maps`)."""
    return ssim_maps(a, b, (data_range,), win_size)[0]


def ssim_from_map(s: Tensor) -> Tensor:
    """Per-image SSIM [B] from a :func:`ssim_map` [B, 3, h, w]: the mean over channels and the valid region."""
    return s.flatten(1).mean(1)


def ssim(a: Tensor, b: Tensor, data_range: float = 1.0, win_size: int = SSIM_WIN) -> Tensor:
    """Per-image SSIM [B] (float64) in scikit-image's default convention (see module docstring).

    a, b: [H, W, 3] or [B, H, W, 3] in [0, data_range]. H and W must be >= ``win_size``.
    """
    return ssim_from_map(ssim_map(a, b, data_range, win_size))


def flip(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean LDR-FLIP error of ``test`` against ``reference`` (float32 [H, W, 3] in [0, 1]); 0 = identical."""
    import flip_evaluator  # noqa: PLC0415  (imported lazily: only metrics needs it)

    ref = np.ascontiguousarray(np.clip(reference, 0.0, 1.0), dtype=np.float32)
    tst = np.ascontiguousarray(np.clip(test, 0.0, 1.0), dtype=np.float32)
    if ref.shape != tst.shape:
        raise ValueError(f"image shapes differ: {ref.shape} vs {tst.shape}")
    _err, mean, _params = flip_evaluator.evaluate(ref, tst, "LDR", applyMagma=False)
    return float(mean)


def finite_or_none(x: float | None) -> float | None:
    """Return ``x`` as a float, or None when it is None/NaN/inf (JSON must never hold inf/NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
