"""EWA projection of 3D Gaussians to the image plane, pure torch (any device/dtype, autograd).

Mirrors gsplat 1.5.3's ``projection_ewa_3dgs_fused_fwd_kernel`` (pinhole): camera-space mean and covariance,
Jacobian with x/z and y/z clamped to the (FOV + 30 %) limits, 2D covariance dilated by ``eps2d``, optional
Mip-Splatting compensation, opacity-aware screen radii, near/far and image-bounds culling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sync4dgs.render.conventions import (
    ALPHA_THRESHOLD,
    FOV_CLAMP_MARGIN,
    covariance_from_quat_scale,
    opacity_aware_extent,
)


@dataclass
class Projection:
    """Per (camera, Gaussian) projection results. Entries with ``radii == 0`` are culled (values undefined).

    radii: [C, N, 2] int32 screen half-extent in pixels (x, y).
    means2d: [C, N, 2] projected centres in pixels (continuous; pixel centres at +0.5).
    depths: [C, N] camera-space z (scene units).
    conics: [C, N, 3] inverse of the dilated 2D covariance, (xx, xy, yy), in 1/px^2.
    opacities: [C, N] effective opacity (times the compensation in antialiased mode).
    compensations: [C, N] or None (classic mode).
    """

    radii: Tensor
    means2d: Tensor
    depths: Tensor
    conics: Tensor
    opacities: Tensor
    compensations: Tensor | None


def project_gaussians(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    eps2d: float,
    near: float,
    far: float,
    antialiased: bool,
    radius_clip: float = 0.0,
) -> Projection:
    """Project N Gaussians into C pinhole cameras.

    means [N, 3], quats [N, 4] wxyz, scales [N, 3], opacities [N], viewmats [C, 4, 4] (OpenCV w2c),
    Ks [C, 3, 3] (pixels). Culled entries get safe placeholder values so that no NaN/inf reaches autograd.
    """
    rot = viewmats[:, :3, :3]
    trans = viewmats[:, :3, 3]
    means_c = torch.einsum("cij,nj->cni", rot, means) + trans[:, None, :]  # [C, N, 3]
    cov_w = covariance_from_quat_scale(quats, scales)  # [N, 3, 3]
    cov_c = torch.einsum("cij,njk,clk->cnil", rot, cov_w, rot)  # [C, N, 3, 3]

    x, y, z = means_c.unbind(-1)
    with torch.no_grad():
        in_range = (z >= near) & (z <= far)
    z_safe = torch.where(in_range, z, torch.ones_like(z))

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + FOV_CLAMP_MARGIN * tan_fovx
    lim_x_neg = cx / fx + FOV_CLAMP_MARGIN * tan_fovx
    lim_y_pos = (height - cy) / fy + FOV_CLAMP_MARGIN * tan_fovy
    lim_y_neg = cy / fy + FOV_CLAMP_MARGIN * tan_fovy
    tx = z_safe * torch.clamp(x / z_safe, min=-lim_x_neg, max=lim_x_pos)
    ty = z_safe * torch.clamp(y / z_safe, min=-lim_y_neg, max=lim_y_pos)

    zeros = torch.zeros_like(z_safe)
    jac = torch.stack(
        [fx / z_safe, zeros, -fx * tx / z_safe**2, zeros, fy / z_safe, -fy * ty / z_safe**2], dim=-1
    ).reshape(z.shape + (2, 3))
    cov2d = jac @ cov_c @ jac.transpose(-1, -2)  # [C, N, 2, 2]
    means2d = torch.stack([fx * x / z_safe + cx, fy * y / z_safe + cy], dim=-1)  # [C, N, 2]

    a, b, c, d = cov2d[..., 0, 0], cov2d[..., 0, 1], cov2d[..., 1, 0], cov2d[..., 1, 1]
    det_orig = a * d - b * c
    a_blur, d_blur = a + eps2d, d + eps2d
    det = a_blur * d_blur - b * c
    with torch.no_grad():
        valid = in_range & (det > 0)
    det_safe = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([d_blur / det_safe, -0.5 * (b + c) / det_safe, a_blur / det_safe], dim=-1)

    op = opacities[None, :].expand(z.shape)
    compensations = None
    if antialiased:
        ratio = det_orig / det_safe
        pos = ratio > 0
        compensations = torch.where(pos, torch.sqrt(torch.where(pos, ratio, torch.ones_like(ratio))),
                                    torch.zeros_like(ratio))
        op = op * compensations

    with torch.no_grad():
        extent = opacity_aware_extent(op)
        rad_x = torch.ceil(extent * torch.sqrt(torch.where(valid, a_blur, torch.ones_like(a_blur))))
        rad_y = torch.ceil(extent * torch.sqrt(torch.where(valid, d_blur, torch.ones_like(d_blur))))
        valid = valid & (op >= ALPHA_THRESHOLD)
        valid = valid & ~((rad_x <= radius_clip) & (rad_y <= radius_clip))
        mx, my = means2d[..., 0], means2d[..., 1]
        valid = valid & (mx + rad_x > 0) & (mx - rad_x < width) & (my + rad_y > 0) & (my - rad_y < height)
        radii = torch.where(valid[..., None], torch.stack([rad_x, rad_y], dim=-1),
                            torch.zeros_like(means2d)).to(torch.int32)

    return Projection(radii=radii, means2d=means2d, depths=z, conics=conics, opacities=op,
                      compensations=compensations)
