"""Rotation helpers in numpy (float64): quaternions are wxyz, unit norm, rotations act on column vectors.

Pure functions, no I/O. Used by the camera paths (export/paths.py) and the viewer's camera conversion;
``quat_to_rotmat`` and ``look_at`` are in sync4dgs/utils/geometry.py.
"""

from __future__ import annotations

import numpy as np


def rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (wxyz, w >= 0). Shepperd's method."""
    R = np.asarray(R, dtype=np.float64)
    batch = R.shape[:-2]
    R = R.reshape(-1, 3, 3)
    out = np.empty((R.shape[0], 4))
    for i, m in enumerate(R):
        tr = m[0, 0] + m[1, 1] + m[2, 2]
        if tr > 0:
            s = 2.0 * np.sqrt(tr + 1.0)
            q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
        elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
            s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
            q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
        elif m[1, 1] > m[2, 2]:
            s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
            q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
        else:
            s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
            q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
        q = np.asarray(q)
        q /= np.linalg.norm(q)
        out[i] = q if q[0] >= 0 else -q
    return out.reshape(*batch, 4)


def slerp(q0: np.ndarray, q1: np.ndarray, u: float | np.ndarray) -> np.ndarray:
    """Spherical linear interpolation between unit quaternions q0, q1 [4] at u in [0, 1] (scalar or [M]).

    Takes the short way round (q1 is flipped if q0 . q1 < 0). Returns [4] or [M, 4].
    """
    q0 = np.asarray(q0, dtype=np.float64) / np.linalg.norm(q0)
    q1 = np.asarray(q1, dtype=np.float64) / np.linalg.norm(q1)
    dot = float(q0 @ q1)
    if dot < 0.0:
        q1, dot = -q1, -dot
    u_arr = np.asarray(u, dtype=np.float64)
    uu = u_arr[..., None]
    if dot > 0.9995:  # nearly identical: normalised lerp is exact enough and stable
        q = (1 - uu) * q0 + uu * q1
    else:
        theta = np.arccos(np.clip(dot, -1.0, 1.0))
        q = (np.sin((1 - uu) * theta) * q0 + np.sin(uu * theta) * q1) / np.sin(theta)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def rotation_angle_between(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Geodesic angle in radians between two rotation matrices [3, 3]."""
    c = (np.trace(np.asarray(Ra).T @ np.asarray(Rb)) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))
