"""LLFF ``poses_bounds.npy`` (the N3V / DyNeRF camera file) from and to OpenCV world-to-camera poses.

File layout: float64 array [N, 17]; row k is camera k (cameras in file-name order, cam00 first)::

    row[:15].reshape(3, 5) = [ down | right | back | C | hwf ]
    row[15], row[16]       = near, far   (depth bounds of the scene as seen by that camera, world units)

where the first three columns are the camera-to-world rotation's columns in LLFF axis order: the world
directions of the camera's image-down, image-right and backwards (away from the scene) axes; ``C`` is the
camera centre in world coordinates; ``hwf`` = (image height, image width, focal length) in pixels, the
principal point being the image centre. The 3x5 matrix is flattened row-major (numpy's default), exactly as
LLFF's ``imgs2poses.py`` writes it (``poses.transpose([2, 0, 1]).reshape(-1, 15)`` of a [3, 5, N] array).

In OpenCV camera axes (x right, y down, z forward), with ``R_c2w = R_w2c.T``::

    down  =  R_c2w[:, 1]      right = R_c2w[:, 0]      back = -R_c2w[:, 2]      C = -R_w2c.T @ t_w2c

(NeRF loaders turn [down, right, back] into OpenGL [right, up, back] = [R_c2w[:, 0], -R_c2w[:, 1], -R_c2w[:, 2]].)
"""

from __future__ import annotations

import numpy as np


def encode_poses_bounds(Rs: np.ndarray, ts: np.ndarray, heights, widths, focals, nears, fars) -> np.ndarray:
    """OpenCV world-to-camera poses -> LLFF poses_bounds array.

    Args:
        Rs: [N, 3, 3] world-to-camera rotations; ts: [N, 3] world-to-camera translations.
        heights, widths, focals: [N] (or scalars) image size and focal length in pixels.
        nears, fars: [N] (or scalars) depth bounds in world units.
    Returns:
        float64 [N, 17].
    """
    Rs = np.asarray(Rs, dtype=np.float64).reshape(-1, 3, 3)
    ts = np.asarray(ts, dtype=np.float64).reshape(-1, 3)
    n = len(Rs)
    out = np.zeros((n, 17), dtype=np.float64)
    hwf = np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in (heights, widths, focals)], -1)
    for k in range(n):
        c2w = Rs[k].T
        center = -Rs[k].T @ ts[k]
        m = np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2], center, hwf[k]], axis=1)  # [3, 5]
        out[k, :15] = m.reshape(15)
    out[:, 15] = np.broadcast_to(np.asarray(nears, dtype=np.float64), (n,))
    out[:, 16] = np.broadcast_to(np.asarray(fars, dtype=np.float64), (n,))
    return out


def decode_poses_bounds(arr: np.ndarray) -> dict[str, np.ndarray]:
    """LLFF poses_bounds [N, 17] -> dict with OpenCV ``R`` [N, 3, 3] and ``t`` [N, 3] (world-to-camera),
    ``height``, ``width``, ``focal``, ``near``, ``far`` (each [N])."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 17:
        raise ValueError(f"poses_bounds must have shape [N, 17], got {arr.shape}")
    m = arr[:, :15].reshape(-1, 3, 5)
    down, right, back, center = m[:, :, 0], m[:, :, 1], m[:, :, 2], m[:, :, 3]
    c2w = np.stack([right, down, -back], axis=2)  # columns = camera x, y, z axes in world
    R = np.transpose(c2w, (0, 2, 1))
    t = -np.einsum("nij,nj->ni", R, center)
    return {"R": R, "t": t, "height": m[:, 0, 4], "width": m[:, 1, 4], "focal": m[:, 2, 4],
            "near": arr[:, 15], "far": arr[:, 16]}
