"""Two- and multi-view geometry of calibrated static cameras (pure functions, numpy/torch).

Pixel coordinates follow the scene convention (K maps camera rays to pixel coordinates whose pixel j spans
[j, j+1)). Extrinsics are world-to-camera OpenCV: ``x_cam = R x_world + t``.
"""

from __future__ import annotations

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec


def skew(v: np.ndarray) -> np.ndarray:
    """[3, 3] cross-product matrix of ``v`` [3]."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def fundamental_matrix(cam_a: CameraSpec, cam_b: CameraSpec) -> np.ndarray:
    """[3, 3] F with ``x_b^T F x_a = 0`` for corresponding homogeneous pixels (float64, unit Frobenius norm)."""
    r_rel = cam_b.R @ cam_a.R.T
    t_rel = cam_b.t - r_rel @ cam_a.t
    f = np.linalg.inv(cam_b.K).T @ skew(t_rel) @ r_rel @ np.linalg.inv(cam_a.K)
    return f / np.linalg.norm(f)


def normalizer(cam: CameraSpec) -> np.ndarray:
    """[3, 3] similarity mapping pixels to roughly [-1, 1] (centre at 0, scale = half the longer side)."""
    s = 0.5 * max(cam.width, cam.height)
    return np.array([[1 / s, 0, -0.5 * cam.width / s], [0, 1 / s, -0.5 * cam.height / s], [0, 0, 1.0]])


def epipolar_distance(f: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
    """Symmetric point-to-epipolar-line distance (pixels) of pixel pairs ``xa``, ``xb`` [..., 2] (F: [3, 3]).

    sqrt(0.5 * (d(x_b, F x_a)^2 + d(x_a, F^T x_b)^2)).
    """
    ones = torch.ones_like(xa[..., :1])
    ha, hb = torch.cat([xa, ones], -1), torch.cat([xb, ones], -1)
    la = ha @ f.T            # lines in B
    lb = hb @ f              # lines in A
    e = (hb * la).sum(-1)
    na = la[..., 0] ** 2 + la[..., 1] ** 2 + 1e-30
    nb = lb[..., 0] ** 2 + lb[..., 1] ** 2 + 1e-30
    d2 = 0.5 * e * e * (1 / na + 1 / nb)
    return torch.sqrt(d2 + 1e-20)


def shared_view_fraction(cam_a: CameraSpec, cam_b: CameraSpec, near: float, far: float, grid: int = 12,
                         depths: int = 24) -> float:
    """Fraction of A's image whose viewing rays (between near and far) pass through B's image (in front of B)."""
    us = (np.arange(grid) + 0.5) / grid * cam_a.width
    vs = (np.arange(grid) + 0.5) / grid * cam_a.height
    uu, vv = np.meshgrid(us, vs)
    pix = np.stack([uu.ravel(), vv.ravel(), np.ones(uu.size)], -1)
    rays = pix @ np.linalg.inv(cam_a.K).T            # camera-A coordinates with z = 1
    z = np.geomspace(max(near, 1e-3), max(far, near * 1.01), depths)
    pts_a = rays[:, None, :] * z[None, :, None]      # [P, D, 3] in A's camera frame
    world = (pts_a - cam_a.t) @ cam_a.R              # R^T (x - t), row-wise
    xb = world @ cam_b.R.T + cam_b.t
    front = xb[..., 2] > 1e-6
    uv = xb @ cam_b.K.T
    uv = uv[..., :2] / np.where(front, uv[..., 2], 1.0)[..., None]
    inside = front & (uv[..., 0] >= 0) & (uv[..., 0] <= cam_b.width) & (uv[..., 1] >= 0) & (uv[..., 1] <= cam_b.height)
    return float(inside.any(axis=1).mean())


def viewing_angle_deg(cam_a: CameraSpec, cam_b: CameraSpec) -> float:
    """Angle between the two optical axes, degrees."""
    za, zb = cam_a.R[2], cam_b.R[2]
    return float(np.degrees(np.arccos(np.clip(za @ zb, -1.0, 1.0))))


def projection_matrices(cams: list[CameraSpec]) -> np.ndarray:
    """[C, 3, 4] float64 pixel projection matrices K [R | t]."""
    return np.stack([c.K @ np.concatenate([c.R, c.t[:, None]], 1) for c in cams])


def triangulate_dlt(proj: torch.Tensor, uv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Linear (DLT) triangulation of many points at once.

    Args:
        proj: [C, 3, 4] projection matrices (pixels). uv: [N, C, 2] observations (pixels; anything where
            masked out). mask: [N, C] bool, which views observe each point (>= 2 needed).
    Returns:
        [N, 3] world points (NaN where fewer than 2 views).
    """
    n, c = mask.shape
    # Hartley-style conditioning: observations relative to each camera's image scale
    scale = proj[:, 2:3, :].norm(dim=-1, keepdim=True).clamp_min(1e-12)
    p = proj / scale
    u = torch.nan_to_num(uv, nan=0.0)
    rows1 = u[..., 0:1] * p[None, :, 2] - p[None, :, 0]      # [N, C, 4]
    rows2 = u[..., 1:2] * p[None, :, 2] - p[None, :, 1]
    w = mask.to(uv.dtype)[..., None]
    a = torch.cat([rows1 * w, rows2 * w], 1)                  # [N, 2C, 4]
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    _, _, vh = torch.linalg.svd(a.transpose(1, 2) @ a)
    x = vh[:, -1]
    pts = x[:, :3] / x[:, 3:4]
    enough = mask.sum(1) >= 2
    return torch.where(enough[:, None] & torch.isfinite(pts).all(1, keepdim=True), pts,
                       torch.full_like(pts, float("nan")))


def project(proj: torch.Tensor, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points ``xyz`` [..., 3] with ``proj`` [..., 3, 4]; returns (uv [..., 2], depth [...])."""
    h = torch.cat([xyz, torch.ones_like(xyz[..., :1])], -1)
    q = (proj @ h[..., None])[..., 0]
    return q[..., :2] / q[..., 2:3], q[..., 2]
