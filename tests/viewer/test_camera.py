"""viser camera <-> OpenCV viewmat conversion, checked against viser's own orientation code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sync4dgs.utils import geometry
from sync4dgs.viewer.camera import (
    fov_y_from_intrinsics,
    intrinsics_from_fov,
    render_size,
    viewmat_to_viser,
    viser_to_viewmat,
)


def look_at_c2w(position, target, up) -> np.ndarray:
    """Camera-to-world rotation [3, 3] of sync4dgs.utils.geometry.look_at."""
    return geometry.look_at(position, target, up, parallel_ok=True)[0].T


def _project(vm, K, X):
    x = vm[:3, :3] @ X + vm[:3, 3]
    return (K @ x)[:2] / x[2], x[2]


@pytest.mark.parametrize("position,look_at,up", [
    ((0.0, 0.0, -4.0), (0.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    ((2.0, 1.5, 3.0), (0.2, -0.1, 0.4), (0.0, 0.0, 1.0)),
])
def test_viser_camera_pose_converts_to_opencv_viewmat(position, look_at, up):
    """Let viser itself turn (position, look_at, up) into its camera quaternion, then check our viewmat:
    the look-at point lands on the principal point in front of the camera and 'up' points up the image."""
    viser = pytest.importorskip("viser")
    handle = viser.CameraHandle(client=None)  # state-only use: no messages are sent by _update_wxyz
    handle._state.position = np.asarray(position, dtype=np.float64)
    handle._state.look_at = np.asarray(look_at, dtype=np.float64)
    handle._state.up_direction = np.asarray(up, dtype=np.float64)
    handle._update_wxyz()
    vm = viser_to_viewmat(handle._state.wxyz, handle._state.position)
    W, H = 80, 60
    K = intrinsics_from_fov(math.radians(50), W, H)
    uv, z = _project(vm, K, np.asarray(look_at))
    assert z > 0 and np.allclose(uv, [W / 2, H / 2], atol=1e-9)
    above = np.asarray(look_at) + 0.1 * np.asarray(up) / np.linalg.norm(up)
    uv_up, _ = _project(vm, K, above)
    assert uv_up[1] < H / 2 - 0.5  # image row decreases going up
    assert np.allclose(vm[:3, :3] @ vm[:3, :3].T, np.eye(3), atol=1e-12)


def test_viewmat_viser_roundtrip():
    p = np.array([1.0, -2.0, 0.5])
    Rc = look_at_c2w(p, np.zeros(3), np.array([0.0, -1.0, 0.0]))
    vm = np.eye(4)
    vm[:3, :3], vm[:3, 3] = Rc.T, -Rc.T @ p
    wxyz, pos = viewmat_to_viser(vm)
    assert np.allclose(pos, p) and np.allclose(viser_to_viewmat(wxyz, pos), vm, atol=1e-12)


def test_fov_intrinsics_and_render_size():
    K = intrinsics_from_fov(math.radians(60), 200, 100)
    assert K[1, 1] == pytest.approx(50 / math.tan(math.radians(30)))
    assert fov_y_from_intrinsics(K, 100) == pytest.approx(math.radians(60))
    assert render_size(2.0, 256) == (256, 128)
    assert render_size(0.5, 256) == (128, 256)
    assert render_size(float("nan"), 64) == (64, 64)
