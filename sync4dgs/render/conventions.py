"""Rendering conventions, written once. Every backend and every caller relies on these.

Cameras
    * ``viewmats`` [C, 4, 4]: world-to-camera, OpenCV axes (x right, y down, z forward):
      ``x_cam = R @ x_world + t`` with ``R = viewmats[:, :3, :3]``, ``t = viewmats[:, :3, 3]``.
    * ``Ks`` [C, 3, 3]: pinhole intrinsics in pixels; pixel ``(i, j)`` (column i, row j) has its centre at
      ``(i + 0.5, j + 0.5)``, so a point on the optical axis lands at ``(cx, cy)`` in continuous pixel units.
    * Camera "depth" is the camera-space z (not the ray length), in scene units.

Gaussians
    * quaternions are wxyz and need not be normalised; ``R(q) @ diag(scales)`` maps the unit sphere to the
      1-sigma ellipsoid, so the world covariance is ``R S S^T R^T``.
    * scales are positive standard deviations (world units); opacities are in [0, 1].

Colours
    * SH coefficients [N, B, 3] in the 3DGS/gsplat band-major layout (B = (degree+1)^2, basis order
      l=0; l=1: m=-1,0,1; ...). Colour = clamp_min(sum_b Y_b(d) c_b + 0.5, 0) with d the unit vector from the
      camera centre to the Gaussian mean (3DGS convention; no upper clamp).

Compositing (mirrors gsplat 1.5.3's CUDA rasteriser)
    * alpha_i = min(MAX_ALPHA, opacity_i * exp(-sigma_i)), sigma = 0.5 * d^T conic d, d = mean2d - pixel.
    * Gaussians with ``sigma < 0`` or ``alpha < ALPHA_THRESHOLD`` are skipped for that pixel.
    * Front to back in camera-z order; a pixel stops (exclusively) at the first Gaussian whose
      transmittance-after would be ``<= MIN_TRANSMITTANCE``.
    * The projected 2D covariance is dilated by ``eps2d`` px^2 (0.3 by default). In "antialiased" mode the
      opacity is also multiplied by ``sqrt(det(cov2d) / det(cov2d + eps2d I))`` (Mip-Splatting 2D filter).
    * Screen radius per axis = ceil(extent * sqrt(cov2d_dilated[a, a])) with the opacity-aware extent
      ``min(MAX_EXTENT_SIGMA, sqrt(2 ln(opacity_eff / ALPHA_THRESHOLD)))``; 0 means culled.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sync4dgs.utils.geometry import look_at, quat_to_rotmat

# --- compositing / culling constants (gsplat 1.5.3: cuda/include/Common.h and the CUDA kernels) -------------
ALPHA_THRESHOLD = 1.0 / 255.0
MAX_ALPHA = 0.999
MIN_TRANSMITTANCE = 1e-4
MAX_EXTENT_SIGMA = 3.33
PIXEL_CENTER_OFFSET = 0.5
# x/z is clamped to [-(cx/fx + 0.3 tan_fovx), (W - cx)/fx + 0.3 tan_fovx] in the projection Jacobian
FOV_CLAMP_MARGIN = 0.3
DEFAULT_EPS2D = 0.3
TILE_SIZE = 16

# --- real spherical harmonics constants (3DGS / gsplat) ---------------------------------------------
SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792,
         0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
         -0.4570457994644658, 1.445305721320277, -0.5900435899266435)
MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Number of SH bases used by ``degree`` (0..3): (degree + 1)^2."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"SH degree must be in 0..{MAX_SH_DEGREE}, got {degree}")
    return (degree + 1) ** 2


def sh_bases(degree: int, dirs: Tensor) -> Tensor:
    """Real SH basis values in the 3DGS order.

    dirs: [..., 3] UNIT view directions (camera centre -> Gaussian). Returns [..., (degree+1)^2].
    """
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [SH_C2[0] * xy, SH_C2[1] * yz, SH_C2[2] * (2.0 * zz - xx - yy), SH_C2[3] * xz,
                SH_C2[4] * (xx - yy)]
    if degree >= 3:
        out += [SH_C3[0] * y * (3.0 * xx - yy),
                SH_C3[1] * xy * z,
                SH_C3[2] * y * (4.0 * zz - xx - yy),
                SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
                SH_C3[4] * x * (4.0 * zz - xx - yy),
                SH_C3[5] * z * (xx - yy),
                SH_C3[6] * x * (xx - 3.0 * yy)]
    return torch.stack(out, dim=-1)


def sh_to_rgb(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Evaluate SH colour as gsplat does: clamp_min(SH(d) + 0.5, 0).

    dirs: [..., 3] view directions (any length; normalised here; a zero vector gives the DC term only).
    coeffs: [..., B, 3] with B >= (degree+1)^2; only the first (degree+1)^2 bases are used.
    Returns [..., 3] RGB (not clamped above).
    """
    nb = num_sh_bases(degree)
    if coeffs.shape[-2] < nb:
        raise ValueError(f"SH degree {degree} needs {nb} bases, colours have {coeffs.shape[-2]}")
    unit = torch.nn.functional.normalize(dirs, p=2.0, dim=-1)
    basis = sh_bases(degree, unit)  # [..., nb]
    rgb = (basis[..., None] * coeffs[..., :nb, :]).sum(dim=-2)
    return torch.clamp_min(rgb + 0.5, 0.0)


def rgb_to_sh_dc(rgb: Tensor) -> Tensor:
    """Inverse of the degree-0 colour: the DC coefficient whose colour is ``rgb``. [..., 3] -> [..., 3]."""
    return (rgb - 0.5) / SH_C0


def covariance_from_quat_scale(quats: Tensor, scales: Tensor) -> Tensor:
    """World covariance R S S^T R^T. quats [N, 4] wxyz, scales [N, 3] (world units) -> [N, 3, 3] (units^2)."""
    m = quat_to_rotmat(quats) * scales[..., None, :]
    return m @ m.transpose(-1, -2)


def camera_centers(viewmats: Tensor) -> Tensor:
    """World positions of camera centres from world-to-camera matrices. [C, 4, 4] -> [C, 3].

    Uses the full matrix inverse (as gsplat does), so gradients w.r.t. viewmats match gsplat's.
    """
    return torch.linalg.inv(viewmats)[..., :3, 3]


def opacity_aware_extent(opacity_eff: Tensor) -> Tensor:
    """Bounding-box half-size in sigmas for an (effective) opacity: min(3.33, sqrt(2 ln(o / (1/255))))."""
    ratio = torch.clamp_min(opacity_eff / ALPHA_THRESHOLD, 1.0)
    return torch.clamp_max(torch.sqrt(2.0 * torch.log(ratio)), MAX_EXTENT_SIGMA)


def look_at_viewmat(eye: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """OpenCV world-to-camera matrix [4, 4] (dtype/device of ``eye``) of a camera at ``eye`` [3] looking at
    ``target`` [3]: :func:`sync4dgs.utils.geometry.look_at` as a viewmat (not differentiable).

    ``up`` is the world direction that appears upward in the image (default +z); image y points down.
    ValueError when the view direction is parallel to ``up``.
    """
    def host(v: Tensor) -> np.ndarray:
        return v.detach().cpu().double().numpy()

    R, t = look_at(host(eye), host(target), (0.0, 0.0, 1.0) if up is None else host(up))
    out = torch.eye(4, dtype=eye.dtype, device=eye.device)
    out[:3, :3] = torch.as_tensor(R, dtype=eye.dtype)
    out[:3, 3] = torch.as_tensor(t, dtype=eye.dtype)
    return out


def pinhole_K(fx: float, fy: float, cx: float, cy: float, dtype=torch.float32, device=None) -> Tensor:
    """3x3 intrinsics in pixels."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype, device=device)


def fov_to_focal(fov_rad: float, size_px: int) -> float:
    """Focal length in pixels for a full field of view (radians) across ``size_px`` pixels."""
    return 0.5 * size_px / math.tan(0.5 * fov_rad)
