"""Camera-path maths: rotations, look-at point, interpolated path (continuity, exact endpoints), orbit."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.errors import ConfigError
from sync4dgs.export.paths import (
    catmull_rom,
    interpolate_path,
    look_at_point,
    mean_up,
    order_by_azimuth,
    orbit_path,
    parse_path_spec,
)
from sync4dgs.export.rotations import rotation_angle_between, rotmat_to_quat, slerp
from sync4dgs.utils.geometry import look_at, quat_to_rotmat

TARGET = np.array([0.1, 0.2, -0.3])
UP = np.array([0.0, -1.0, 0.0])  # world up is -y (OpenCV-style scene)


def look_at_c2w(position, target, up) -> np.ndarray:
    """Camera-to-world rotation [3, 3] of sync4dgs.utils.geometry.look_at."""
    return look_at(position, target, up, parallel_ok=True)[0].T


def _rig(azimuths_deg, radius=3.0, height=-0.5, rng=None):
    R, t = [], []
    for a in np.deg2rad(azimuths_deg):
        p = TARGET + np.array([radius * np.cos(a), height, radius * np.sin(a)])
        if rng is not None:
            p = p + rng.normal(scale=0.05, size=3)
        Rc = look_at_c2w(p, TARGET, UP)
        R.append(Rc.T)
        t.append(-Rc.T @ p)
    return np.array(R), np.array(t)


def _intr(C, w=64, h=48, f=60.0):
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    return np.repeat(K[None], C, 0), np.repeat([[w, h]], C, 0)


def test_quaternion_roundtrip_and_slerp_endpoints():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    R = quat_to_rotmat(q)
    assert np.allclose(R @ np.transpose(R, (0, 2, 1)), np.eye(3), atol=1e-12)
    assert np.allclose(rotmat_to_quat(R), q, atol=1e-12)
    s = slerp(q[0], q[1], np.array([0.0, 0.5, 1.0]))
    assert np.allclose(s[0], q[0]) and np.allclose(np.abs(s[2] @ q[1]), 1.0)
    half = rotation_angle_between(quat_to_rotmat(q[0]), quat_to_rotmat(s[1]))
    full = rotation_angle_between(quat_to_rotmat(q[0]), quat_to_rotmat(q[1]))
    assert half == pytest.approx(full / 2, abs=1e-9)


def test_look_at_c2w_is_opencv():
    Rc = look_at_c2w(np.array([0, 0, -5.0]), np.zeros(3), UP)
    assert np.allclose(Rc[:, 2], [0, 0, 1])     # forward = +z towards the target
    assert np.allclose(Rc[:, 1], [0, 1, 0])     # image down = world +y (world up is -y)
    assert np.linalg.det(Rc) == pytest.approx(1.0)


def test_look_at_point_and_up_of_a_converging_rig():
    R, t = _rig(np.arange(0, 360, 45))
    assert np.allclose(look_at_point(R, t), TARGET, atol=5e-3)
    assert np.allclose(mean_up(R), UP, atol=0.2)
    # forward-facing rig (60 deg span) still converges on the target
    R2, t2 = _rig(np.linspace(-30, 30, 5))
    assert np.allclose(look_at_point(R2, t2), TARGET, atol=2e-2)


def test_order_by_azimuth_sorts_a_shuffled_forward_rig():
    az = np.linspace(-40, 40, 6)
    perm = np.random.default_rng(3).permutation(6)
    R, t = _rig(az[perm])
    order = order_by_azimuth(R, t)
    got = az[perm][order]
    assert np.all(np.diff(got) > 0) or np.all(np.diff(got) < 0)


def test_catmull_rom_passes_through_points():
    P = np.random.default_rng(0).normal(size=(5, 3))
    seg = np.array([0, 1, 2, 3, 3])
    u = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    assert np.array_equal(catmull_rom(P, seg, u), P)


@pytest.mark.parametrize("azs", [np.linspace(-50, 50, 5), np.array([0, 40, 100, 170, 250, 300])])
def test_interpolated_path_is_continuous_and_hits_the_cameras(azs):
    rng = np.random.default_rng(7)
    R, t = _rig(azs, rng=rng)
    order = order_by_azimuth(R, t)
    R, t = R[order], t[order]
    Ks, sizes = _intr(len(R))
    M = 120
    path = interpolate_path(R, t, Ks, sizes, M, 128, 96)
    assert len(path) == M and path.Ks.shape == (M, 3, 3)
    # endpoints are exactly the first and last training cameras
    assert np.allclose(path.viewmats[0, :3, :3], R[0], atol=1e-9) and np.allclose(path.viewmats[0, :3, 3], t[0], atol=1e-9)
    assert np.allclose(path.viewmats[-1, :3, :3], R[-1], atol=1e-9) and np.allclose(path.viewmats[-1, :3, 3], t[-1], atol=1e-9)
    # every camera is visited (some frame within one step of it)
    c = path.centers
    steps = np.linalg.norm(np.diff(c, axis=0), axis=1)
    cams = -np.einsum("cji,cj->ci", R, t)
    for ck in cams:
        assert np.linalg.norm(c - ck, axis=1).min() <= steps.max() + 1e-9
    # no jumps: no translation or rotation step is much larger than the average one
    rot_steps = np.array([rotation_angle_between(path.viewmats[i, :3, :3], path.viewmats[i + 1, :3, :3])
                          for i in range(M - 1)])
    assert steps.max() <= 2.5 * steps.mean()
    assert rot_steps.max() <= 2.5 * rot_steps.mean() + 1e-9
    # intrinsics scaled to the output size (same vertical field of view)
    assert np.allclose(path.Ks[:, 1, 1], 60.0 * 96 / 48) and np.allclose(path.Ks[:, 0, 2], 64.0)


def test_orbit_of_a_ring_is_a_closed_circle_looking_at_the_pivot():
    R, t = _rig(np.arange(0, 360, 60))
    Ks, sizes = _intr(len(R))
    M = 72
    path = orbit_path(R, t, Ks[0], (64, 48), M, 64, 48)
    c = path.centers
    pivot = look_at_point(R, t)
    horiz = c - pivot - np.outer((c - pivot) @ mean_up(R), mean_up(R))
    assert np.allclose(np.linalg.norm(horiz, axis=1), 3.0, atol=2e-2)
    steps = np.linalg.norm(np.diff(np.concatenate([c, c[:1]]), axis=0), axis=1)  # closed loop
    assert steps.max() <= 1.01 * steps.min() and steps.max() == pytest.approx(2 * np.pi * 3.0 / M, rel=0.02)
    # each frame looks at the pivot: it projects to the principal point
    for vm, K in zip(path.viewmats, path.Ks):
        x = vm[:3, :3] @ pivot + vm[:3, 3]
        uv = (K @ x)[:2] / x[2]
        assert x[2] > 0 and np.allclose(uv, [32, 24], atol=1e-6)


def test_orbit_of_a_forward_rig_stays_on_its_side():
    azs = np.linspace(-30, 30, 4)
    R, t = _rig(azs)
    Ks, _ = _intr(len(R))
    path = orbit_path(R, t, Ks[0], (64, 48), 60, 64, 48)
    c = path.centers
    az = np.rad2deg(np.arctan2(c[:, 2] - TARGET[2], c[:, 0] - TARGET[0]))
    assert az.min() >= -31 and az.max() <= 31 and az.max() - az.min() > 50
    steps = np.linalg.norm(np.diff(np.concatenate([c, c[:1]]), axis=0), axis=1)
    assert steps.max() < 0.2


def test_parse_path_spec():
    assert parse_path_spec("orbit").kind == "orbit"
    assert parse_path_spec("camera:cam03").camera == "cam03"
    with pytest.raises(ConfigError, match="--path"):
        parse_path_spec("spiral")
