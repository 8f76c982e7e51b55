"""The one implementation of two rotation helpers used by every layer (render, model, data, export, viewer).

Conventions (docs/architecture.md): quaternions are wxyz (Hamilton, as COLMAP and gsplat), rotations act on
column vectors; cameras are OpenCV world-to-camera (``x_cam = R x_world + t``; x right, y down, z forward).
Pure functions, no I/O.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


def quat_to_rotmat(q: ArrayT) -> ArrayT:
    """Rotation matrices of quaternions (wxyz, normalised here). q [..., 4] -> [..., 3, 3].

    A torch tensor gives a tensor of the same dtype/device (differentiable); anything else (numpy array, list)
    gives a float64 numpy array, computed by the same torch formula in float64.
    """
    if not isinstance(q, Tensor):
        return quat_to_rotmat(torch.as_tensor(np.asarray(q, dtype=np.float64))).numpy()
    w, x, y, z = torch.nn.functional.normalize(q, p=2.0, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*q.shape[:-1], 3, 3)


def look_at(center, target, up=(0.0, 0.0, 1.0), *, parallel_ok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera ``(R [3, 3], t [3])`` (float64) of a camera at ``center`` [3] looking at ``target`` [3].

    ``up`` [3] is the world direction that appears upward in the image (default +z). The rows of R are the
    camera's right, down and forward axes in world coordinates; ``t = -R center``. When the view direction is
    parallel to ``up``, ValueError, or with ``parallel_ok`` any right axis perpendicular to the view.
    """
    center = np.asarray(center, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    fwd = np.asarray(target, dtype=np.float64) - center
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    if np.linalg.norm(right) < 1e-8 * max(1.0, float(np.linalg.norm(up))):
        if not parallel_ok:
            raise ValueError("look_at: view direction is parallel to 'up'")
        right = np.cross(fwd, np.eye(3)[np.argmin(np.abs(fwd))])
    right = right / np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd], axis=0)
    return R, -R @ center
