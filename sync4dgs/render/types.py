"""Typed records exchanged with the renderer. The renderer knows nothing about time or sync.

Shape letters: N Gaussians, C cameras, H/W image height/width, B SH bases ((degree+1)^2).
Conventions: OpenCV world-to-camera ``viewmats``; ``Ks`` in pixels; quaternions wxyz; SH layout as in
3DGS/gsplat ([N, B, 3], band-major). Values are ACTIVATED: positive scales, opacities in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class Gaussians:
    """A plain set of 3D Gaussians at one instant.

    means: [N, 3] world positions.
    quats: [N, 4] rotations, wxyz (need not be normalised; the renderer normalises).
    scales: [N, 3] positive standard deviations along the local axes (world units).
    opacities: [N] in [0, 1].
    colors: [N, B, 3] SH coefficients (B = (deg+1)^2) or [N, 3] plain RGB in [0, 1].
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    colors: Tensor

    @property
    def n(self) -> int:
        return int(self.means.shape[0])

    @property
    def device(self) -> torch.device:
        return self.means.device

    @staticmethod
    def concat(parts: list["Gaussians"]) -> "Gaussians":
        """Concatenate Gaussian sets along N (colour layouts must match)."""
        return Gaussians(*(torch.cat([getattr(p, f) for p in parts], 0)
                           for f in ("means", "quats", "scales", "opacities", "colors")))


@dataclass
class RenderCameras:
    """C pinhole cameras sharing one image size.

    viewmats: [C, 4, 4] world-to-camera (OpenCV). Ks: [C, 3, 3] pixels. width/height: pixels.
    """

    viewmats: Tensor
    Ks: Tensor
    width: int
    height: int

    @property
    def n(self) -> int:
        return int(self.viewmats.shape[0])


@dataclass
class RenderOutput:
    """What one render call returns.

    image: [C, H, W, 3] colour composited over the background.
    alpha: [C, H, W, 1] accumulated opacity.
    depth: [C, H, W, 1] expected depth (alpha-weighted camera z, divided by alpha where alpha > 0);
        None when rendered with ``render_depth=False``.
    means2d: [C, N, 2] projected centres in pixels; gradients retained (densification statistics).
        Packed renders (``packed=True``): [nnz, 2], one row per visible (camera, Gaussian) pair listed by
        ``info["camera_ids"]`` / ``info["gaussian_ids"]`` (gsplat's packed layout).
    radii: [C, N, 2] int screen-space radii in pixels (0 = culled / not visible); [nnz, 2] when packed.
    info: backend meta in gsplat's strategy format ("means2d", "radii", "width", "height",
        "n_cameras", "gaussian_ids", ...), usable directly by gsplat strategies; also "backend"
        ("gsplat" | "torch") and "n_gaussians" (N).
    """

    image: Tensor
    alpha: Tensor
    depth: Tensor | None
    means2d: Tensor
    radii: Tensor
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def visible(self) -> Tensor:
        """[C, N] bool: Gaussian projected onto the image with a non-zero radius (also for packed renders)."""
        gids = self.info.get("gaussian_ids")
        if gids is None:
            return (self.radii > 0).all(dim=-1)
        n_cams, n_gauss = int(self.info["n_cameras"]), int(self.info["n_gaussians"])
        out = torch.zeros(n_cams, n_gauss, dtype=torch.bool, device=self.radii.device)
        out[self.info["camera_ids"], gids] = (self.radii > 0).all(dim=-1)
        return out
