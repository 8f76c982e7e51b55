"""Independent float64 numpy re-implementation of the splatting maths (for the render tests).

Written separately from sync4dgs/render (sequential per-Gaussian loop, no tiles, numpy only) so that the
tests compare two implementations, not one with itself. Exposed through the ``npref`` fixture.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
T_MIN = 1e-4


def quat_to_rot(q):
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def project(mean, quat, scale, opacity, viewmat, K, width, height, eps2d=0.3, antialiased=False):
    """One Gaussian into one camera: dict with mean2d, cov2d (undilated), conic, depth, opacity_eff."""
    viewmat, K = np.asarray(viewmat, np.float64), np.asarray(K, np.float64)
    rot, t = viewmat[:3, :3], viewmat[:3, 3]
    p = rot @ np.asarray(mean, np.float64) + t
    rq = quat_to_rot(quat)
    cov_w = rq @ np.diag(np.asarray(scale, np.float64) ** 2) @ rq.T
    cov_c = rot @ cov_w @ rot.T
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = p
    tanx, tany = 0.5 * width / fx, 0.5 * height / fy
    tx = z * np.clip(x / z, -(cx / fx + 0.3 * tanx), (width - cx) / fx + 0.3 * tanx)
    ty = z * np.clip(y / z, -(cy / fy + 0.3 * tany), (height - cy) / fy + 0.3 * tany)
    jac = np.array([[fx / z, 0.0, -fx * tx / z**2], [0.0, fy / z, -fy * ty / z**2]])
    cov2d = jac @ cov_c @ jac.T
    blur = cov2d + eps2d * np.eye(2)
    comp = np.sqrt(max(0.0, np.linalg.det(cov2d) / np.linalg.det(blur))) if antialiased else 1.0
    return {"mean2d": np.array([fx * x / z + cx, fy * y / z + cy]), "cov2d": cov2d, "blur": blur,
            "conic": np.linalg.inv(blur), "depth": z, "opacity": opacity * comp}


def render(means, quats, scales, opacities, rgbs, viewmat, K, width, height, background=None,
           eps2d=0.3, antialiased=False, near=0.01, far=1e10):
    """Sequential front-to-back splatting of RGB Gaussians into one camera: (image, alpha, depth)."""
    projs = []
    for i in range(len(means)):
        z = (np.asarray(viewmat)[:3, :3] @ np.asarray(means[i]) + np.asarray(viewmat)[:3, 3])[2]
        if not near <= z <= far:
            continue
        pr = project(means[i], quats[i], scales[i], opacities[i], viewmat, K, width, height, eps2d,
                     antialiased)
        if pr["opacity"] < ALPHA_MIN:
            continue
        projs.append((pr["depth"], i, pr))
    projs.sort(key=lambda e: (e[0], e[1]))
    jj, ii = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    trans = np.ones((height, width))
    color = np.zeros((height, width, 3))
    depth = np.zeros((height, width))
    done = np.zeros((height, width), bool)
    for z, i, pr in projs:
        dx, dy = pr["mean2d"][0] - ii, pr["mean2d"][1] - jj
        a, b, c = pr["conic"][0, 0], pr["conic"][0, 1], pr["conic"][1, 1]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        alpha = np.minimum(ALPHA_MAX, pr["opacity"] * np.exp(-sigma))
        use = (sigma >= 0) & (alpha >= ALPHA_MIN) & ~done
        nxt = trans * (1 - alpha)
        stop = use & (nxt <= T_MIN)
        done |= stop
        use &= ~stop
        w = np.where(use, alpha * trans, 0.0)
        color += w[..., None] * np.asarray(rgbs[i])[None, None, :]
        depth += w * z
        trans = np.where(use, nxt, trans)
    alpha_img = 1.0 - trans
    if background is not None:
        color = color + trans[..., None] * np.asarray(background)[None, None, :]
    exp_depth = depth / np.maximum(alpha_img, 1e-10)
    return color, alpha_img, exp_depth


def sh_deg3_color(dirs, coeffs):
    """3DGS's CUDA SH formula (forward.cu, computeColorFromSH) typed out literally; +0.5, clamp_min 0."""
    c0 = 0.28209479177387814
    c1 = 0.4886025119029199
    c2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792,
          0.5462742152960396]
    c3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
          -0.4570457994644658, 1.445305721320277, -0.5900435899266435]
    d = np.asarray(dirs, np.float64)
    d = d / np.linalg.norm(d)
    x, y, z = d
    sh = np.asarray(coeffs, np.float64)
    r = c0 * sh[0]
    r = r - c1 * y * sh[1] + c1 * z * sh[2] - c1 * x * sh[3]
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    r = (r + c2[0] * xy * sh[4] + c2[1] * yz * sh[5] + c2[2] * (2 * zz - xx - yy) * sh[6]
         + c2[3] * xz * sh[7] + c2[4] * (xx - yy) * sh[8])
    r = (r + c3[0] * y * (3 * xx - yy) * sh[9] + c3[1] * xy * z * sh[10]
         + c3[2] * y * (4 * zz - xx - yy) * sh[11] + c3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[12]
         + c3[4] * x * (4 * zz - xx - yy) * sh[13] + c3[5] * z * (xx - yy) * sh[14]
         + c3[6] * x * (xx - 3 * yy) * sh[15])
    return np.maximum(r + 0.5, 0.0)


def identity_camera(width=32, height=24, focal=30.0, dtype=torch.float64):
    """Camera at the origin looking down +z (OpenCV), principal point at the image centre."""
    viewmat = torch.eye(4, dtype=dtype)[None]
    K = torch.tensor([[[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]], dtype=dtype)
    return viewmat, K


@pytest.fixture(autouse=True)
def _single_thread(torch_single_thread):
    """Render tests use tiny tensors: one intra-op thread is faster, and immune to CPU contention."""
    yield


@pytest.fixture
def npref():
    return SimpleNamespace(quat_to_rot=quat_to_rot, project=project, render=render,
                           sh_deg3_color=sh_deg3_color, identity_camera=identity_camera)
