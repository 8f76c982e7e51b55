"""The analytic renderer: projection convention, time dependence, batching invariance, ground-truth motion."""

import numpy as np
import pytest

from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.data.synth import (Material, Primitive, SceneDef, build_default_scene, moving_points_world,
                                 object_centers, plan_synth, make_config, render_frames, render_geometry,
                                 render_view)
from sync4dgs.data.synth.motion import Accelerating, Static
from sync4dgs.data.synth.rig import intrinsics
from sync4dgs.utils.geometry import look_at


def _spec(K, R, t, w, h):
    return CameraSpec("c", w, h, K, R, t, 30.0, 1, FrameSource("images", "x", "{:05d}.png"))


def test_a_marker_appears_where_its_3d_point_projects():
    marker_xyz = np.array([0.37, 0.21, 1.13])
    wall = Material(base_rgb=(0.5, 0.5, 0.5), checker_w=0.0, noise_w=0.0, stripe_w=0.0)
    red = Material(base_rgb=(1.0, 0.0, 0.0), checker_w=0.0, noise_w=0.0, stripe_w=0.0)
    scene = SceneDef([
        Primitive("wall", "plane", (10.0, 10.0, 0.0), wall,
                  Static(spin_axis=(1.0, 0.0, 0.0), position=(0.0, 3.0, 0.0), angle_rad=np.pi / 2)),
        # A small flat red square facing the cameras (uniformly shaded, so its colour centroid is its centre).
        Primitive("marker", "plane", (0.03, 0.03, 0.0), red,
                  Static(spin_axis=(1.0, 0.0, 0.0), position=tuple(marker_xyz), angle_rad=np.pi / 2)),
    ])
    w, h = 160, 120
    K = intrinsics(w, h, 60.0)
    R, t = look_at(np.array([-0.4, -3.0, 1.6]), np.array([0.2, 1.0, 0.9]))
    img = render_view(scene, K, R, t, w, h, 0.0, "cpu", supersample=6).numpy()
    redness = np.clip(img[..., 0] - img[..., 1], 0.0, None)
    assert redness.max() > 0.3
    ii, jj = np.mgrid[0:h, 0:w]
    centroid = np.array([(redness * (jj + 0.5)).sum(), (redness * (ii + 0.5)).sum()]) / redness.sum()
    uv = _spec(K, R, t, w, h).project(marker_xyz[None])[0]
    assert np.abs(centroid - uv).max() < 0.05  # pixel centres at +0.5, as in sync4dgs/data/scene.py


def test_static_surface_points_project_back_to_their_pixels():
    plan = plan_synth(make_config("tiny"))
    cam = plan.cameras[1]
    geo = render_geometry(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, 0.2)
    rng = np.random.default_rng(0)
    ii, jj = rng.integers(0, cam.height, 200), rng.integers(0, cam.width, 200)
    assert np.all(geo.prim[ii, jj] >= 0)
    uv = _spec(cam.K, cam.R, cam.t, cam.width, cam.height).project(geo.points[ii, jj])
    np.testing.assert_allclose(uv, np.stack([jj + 0.5, ii + 0.5], 1), atol=1e-3)
    assert np.all(geo.depth[ii, jj] > 0)


def test_batching_and_tiling_do_not_change_pixels():
    plan = plan_synth(make_config("tiny"))
    cam = plan.cameras[2]
    times = plan.clocks[2].times_s()[:5]
    big = np.concatenate([img.numpy() for _, img in render_frames(plan.scene, cam.K, cam.R, cam.t, 96, 72, times)])
    small = np.concatenate([img.numpy() for _, img in render_frames(plan.scene, cam.K, cam.R, cam.t, 96, 72, times,
                                                                    max_rays=96 * 4 * 7)])  # 7-row tiles, 1 frame
    # Equal up to float32 rounding (vectorised math kernels may differ in the last bit at tensor tails).
    np.testing.assert_allclose(big, small, rtol=0, atol=1e-6)
    single = render_view(plan.scene, cam.K, cam.R, cam.t, 96, 72, times[3]).numpy()
    np.testing.assert_allclose(big[3], single, rtol=0, atol=1e-6)


def test_moving_object_truth_matches_the_rendered_surfaces():
    plan = plan_synth(make_config("tiny"))
    scene = plan.scene
    names = [p.name for p in scene.primitives]
    for t_s in (0.0, 0.37):
        centers = object_centers(scene, [t_s])
        for cam in plan.cameras[:2]:
            geo = render_geometry(scene, cam.K, cam.R, cam.t, cam.width, cam.height, t_s)
            mask = geo.prim == names.index("orbiter")
            if not mask.any():
                continue
            r = np.linalg.norm(geo.points[mask] - centers["orbiter"][0], axis=-1)
            np.testing.assert_allclose(r, scene.primitive("orbiter").size[0], atol=2e-4)
    pts = moving_points_world(scene, [0.0, 0.5], n_per_object=16, seed=1)
    assert set(pts) == {"orbiter", "accelerator", "fast_ball", "occluder"}
    local, world = pts["fast_ball"]
    assert world.shape == (2, 16, 3)
    c = object_centers(scene, [0.0, 0.5])["fast_ball"]
    np.testing.assert_allclose(np.linalg.norm(world - c[:, None], axis=-1), 0.12, atol=1e-9)
    assert np.linalg.norm(c[1] - c[0]) > 0.5  # it is fast


@pytest.mark.parametrize("name", ["orbiter", "accelerator", "fast_ball", "occluder"])
def test_motions_are_rigid_and_defined_at_any_time(name):
    prim = build_default_scene(0, (-1.0, 3.0)).primitive(name)
    t = np.array([-50.0, -1.0, 0.0, 0.5, 3.0, 1e3])
    R, c = prim.motion.pose(t)
    assert np.all(np.isfinite(R)) and np.all(np.isfinite(c))
    np.testing.assert_allclose(R @ np.transpose(R, (0, 2, 1)), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # Moves in 3D, not along one line: positions over a second span a volume.
    p = prim.motion.pose(np.linspace(0.0, 1.0, 31))[1]
    assert np.linalg.svd(p - p.mean(0), compute_uv=False)[1] > 1e-3


def test_accelerating_motion_speeds_up_with_constant_acceleration():
    m = Accelerating(start_m=(0.0, 0.0, 0.0), end_m=(3.0, 0.0, 0.0), bulge_m=(0.0, 0.0, 0.2), t0_s=1.0, t1_s=3.0)
    t = np.linspace(1.0, 3.0, 201)
    c = m.pose(t)[1]
    np.testing.assert_allclose(c[0], [0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(c[-1], [3.0, 0.0, 0.0], atol=1e-12)
    dt = t[1] - t[0]
    speed = np.linalg.norm(np.diff(c, axis=0), axis=1) / dt
    assert speed[-1] > 5 * speed[0]
    acc = np.diff(c, 2, axis=0) / dt**2
    np.testing.assert_allclose(acc, np.broadcast_to(acc[0], acc.shape), atol=1e-6)
