"""Conversion between viser's browser camera and our render cameras (pure numpy, float64).

viser 1.1.1 (checked in its source, ``_viser.py: CameraHandle``): ``camera.wxyz`` / ``camera.position`` are
the R / t of ``P_world = R @ p_camera + t`` -- camera-to-world -- with OpenCV axes ("look_direction is +Z,
up_direction is -Y, right_direction is +X"); ``camera.fov`` is the VERTICAL field of view in radians;
``camera.image_width`` / ``image_height`` are the browser canvas size in pixels. Its camera frusta use the
same convention. Our renderer wants world-to-camera OpenCV ``viewmats`` (render/conventions.py), so the
conversion is a plain rigid inverse, no axis flips.
"""

from __future__ import annotations

import math

import numpy as np

from sync4dgs.export.rotations import rotmat_to_quat
from sync4dgs.utils.geometry import quat_to_rotmat


def viser_to_viewmat(wxyz: np.ndarray, position: np.ndarray) -> np.ndarray:
    """viser camera (camera-to-world quaternion wxyz [4], position [3]) -> [4, 4] world-to-camera OpenCV."""
    R_c2w = quat_to_rotmat(np.asarray(wxyz, dtype=np.float64))
    p = np.asarray(position, dtype=np.float64)
    vm = np.eye(4)
    vm[:3, :3] = R_c2w.T
    vm[:3, 3] = -R_c2w.T @ p
    return vm


def viewmat_to_viser(viewmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[4, 4] world-to-camera OpenCV -> (wxyz [4], position [3]) for viser (camera-to-world)."""
    vm = np.asarray(viewmat, dtype=np.float64)
    R_c2w = vm[:3, :3].T
    return rotmat_to_quat(R_c2w), -R_c2w @ vm[:3, 3]


def intrinsics_from_fov(fov_y_rad: float, width: int, height: int) -> np.ndarray:
    """[3, 3] pixel intrinsics of a centred pinhole with vertical field of view ``fov_y_rad`` and square pixels."""
    fy = 0.5 * height / math.tan(0.5 * fov_y_rad)
    return np.array([[fy, 0.0, 0.5 * width], [0.0, fy, 0.5 * height], [0.0, 0.0, 1.0]])


def fov_y_from_intrinsics(K: np.ndarray, height: int) -> float:
    """Vertical field of view (radians) of intrinsics ``K`` [3, 3] for an image ``height`` pixels tall."""
    return float(2.0 * math.atan(0.5 * height / K[1, 1]))


def render_size(aspect: float, max_side: int) -> tuple[int, int]:
    """(width, height) in pixels with width / height ~= ``aspect`` and the longer side = ``max_side``."""
    if not (aspect > 0 and math.isfinite(aspect)):
        aspect = 1.0
    if aspect >= 1.0:
        return int(max_side), max(1, int(round(max_side / aspect)))
    return max(1, int(round(max_side * aspect))), int(max_side)
