"""Seeding of temporally local dynamic Gaussians on the moving content (moving_sweep + moving_seed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.data.motion_mask import moving_mask
from sync4dgs.data.frames import open_frames
from sync4dgs.model.temporal import temporal_opacity
from sync4dgs.render.conventions import look_at_viewmat
from sync4dgs.timemap import load_time_maps
from sync4dgs.train.config import MovingSeedConfig
from sync4dgs.train.moving_seed import collect_moving_points, seed_moving_gaussians, seed_times_s
from sync4dgs.train.moving_sweep import SweepPoints, SweepSettings, SweepViews, sweep_moving_points, voxel_downsample

W, H, F = 64, 48, 120.0
CENTER, RADIUS = np.array([0.2, 0.1, 0.0]), 0.3


def _ring_cameras(n=5):
    Ks, Rs, ts = [], [], []
    for ang in np.deg2rad(np.linspace(-60, 60, n)):
        eye = torch.tensor([4.0 * math.sin(ang), -4.0 * math.cos(ang), 0.5], dtype=torch.float64)
        vm = look_at_viewmat(eye, torch.zeros(3, dtype=torch.float64)).numpy()
        Ks.append(np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]]))
        Rs.append(vm[:3, :3])
        ts.append(vm[:3, 3])
    return np.stack(Ks), np.stack(Rs), np.stack(ts)


def _sphere_views(seed=0):
    """Views of a textured sphere (colour = function of the 3D surface point) in front of random noise."""
    rng = np.random.default_rng(seed)
    Ks, Rs, ts = _ring_cameras()
    imgs, masks = [], []
    ys, xs = np.mgrid[0:H, 0:W]
    pix = np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs, dtype=float)], -1).reshape(-1, 3)
    for K, R, t in zip(Ks, Rs, ts):
        d = (pix @ np.linalg.inv(K).T) @ R                      # world ray directions (unnormalised)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        o = -R.T @ t
        oc = o - CENTER
        b = d @ oc
        disc = b * b - (oc @ oc - RADIUS ** 2)
        hit = disc > 0
        s = -b - np.sqrt(np.maximum(disc, 0))
        X = o + s[:, None] * d
        col = 0.5 + 0.45 * np.sin(9.0 * (X - CENTER) + np.array([0.0, 2.0, 4.0]))
        img = rng.uniform(0, 1, (H * W, 3))
        img[hit] = col[hit]
        imgs.append(img.reshape(H, W, 3))
        masks.append(hit.reshape(H, W))
    f = dict(dtype=torch.float32)
    return SweepViews(torch.tensor(Ks, **f), torch.tensor(Rs, **f), torch.tensor(ts, **f),
                      torch.tensor(np.stack(imgs), **f), torch.tensor(np.stack(masks)))


def test_sweep_puts_points_on_the_moving_surface():
    views = _sphere_views()
    pts = sweep_moving_points(views, SweepSettings(near=1.0, far=10.0, stride=2, depth_samples=96),
                              torch.Generator().manual_seed(0))
    assert pts.xyz.shape[0] > 100
    dist = np.linalg.norm(pts.xyz.numpy() - CENTER, axis=1)
    step = pts.footprint.numpy()
    # on the sphere's surface within a few depth steps / grid cells
    assert np.median(np.abs(dist - RADIUS)) < 0.05
    assert np.mean(np.abs(dist - RADIUS) < 0.1 + step) > 0.9
    assert torch.all((pts.rgb >= 0) & (pts.rgb <= 1))


def test_sweep_rejects_masks_that_disagree():
    views = _sphere_views()
    views.masks[1:] = False                                      # only one view sees moving content
    pts = sweep_moving_points(views, SweepSettings(near=1.0, far=10.0), torch.Generator().manual_seed(0))
    assert pts.xyz.shape[0] == 0


def _small_object_before_decoy_views(seed=0):
    """A small sphere S at the origin whose colour is inconsistent across views (per-view noise) before a larger
    uniform grey sphere D behind it along view 0's axis, which view 4 does not see as moving: along S's pixels
    in view 0, D's depth matches the colour better (fewer views agree), S's depth has every view agreeing."""
    rng = np.random.default_rng(seed)
    Ks, Rs, ts = _ring_cameras()
    eye0 = -Rs[0].T @ ts[0]
    d_center = -2.0 * eye0 / np.linalg.norm(eye0)
    spheres = [(np.zeros(3), RADIUS), (d_center, 0.8)]
    ys, xs = np.mgrid[0:H, 0:W]
    pix = np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs, dtype=float)], -1).reshape(-1, 3)
    imgs, masks = [], []
    for v, (K, R, t) in enumerate(zip(Ks, Rs, ts)):
        d = (pix @ np.linalg.inv(K).T) @ R
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        o = -R.T @ t
        dist = []
        for c, r in spheres:
            oc = o - c
            b = d @ oc
            disc = b * b - (oc @ oc - r * r)
            dist.append(np.where(disc > 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf))
        hit_s = np.isfinite(dist[0]) & (dist[0] <= dist[1])
        hit_d = np.isfinite(dist[1]) & ~hit_s
        img = rng.uniform(0, 1, (H * W, 3))
        img[hit_s] = 0.5 + rng.uniform(-0.15, 0.15, (int(hit_s.sum()), 3))
        img[hit_d] = 0.5
        imgs.append(img.reshape(H, W, 3))
        masks.append((hit_s | (hit_d & (v != 4))).reshape(H, W))
    f = dict(dtype=torch.float32)
    return SweepViews(torch.tensor(Ks, **f), torch.tensor(Rs, **f), torch.tensor(ts, **f),
                      torch.tensor(np.stack(imgs), **f), torch.tensor(np.stack(masks)))


def test_a_second_depth_hypothesis_recovers_a_small_object_before_a_decoy():
    views = _small_object_before_decoy_views()
    found = {}
    for n in (1, 2):
        s = SweepSettings(near=1.0, far=10.0, stride=1, depth_samples=64, depth_hypotheses=n)
        pts = sweep_moving_points(views, s, torch.Generator().manual_seed(0))
        xyz = pts.xyz[pts.view == 0].numpy()
        found[n] = (np.linalg.norm(xyz, axis=1) < RADIUS + 0.1, xyz)
    n_s = int(views.masks[0].sum())  # view 0's moving pixels (S, and D around it)
    on_s1, on_s2 = int(found[1][0].sum()), int(found[2][0].sum())
    # colour first puts most of S's pixels on the decoy; the agreement-first second points put them back on S
    assert on_s2 >= 2 * on_s1, (on_s1, on_s2, n_s)
    # the first hypothesis' points are all kept (a superset), and nothing else changes
    rows1 = {tuple(np.round(x, 5)) for x in found[1][1]}
    rows2 = {tuple(np.round(x, 5)) for x in found[2][1]}
    assert rows1 <= rows2


def test_best_views_error_is_the_mean_of_the_smallest_agreeing_errors():
    from sync4dgs.train.moving_sweep import _best_views_error

    g = torch.Generator().manual_seed(3)
    err = torch.rand(6, 200, generator=g, dtype=torch.float64)
    agree = torch.rand(6, 200, generator=g) > 0.3
    n_on = agree.sum(0)
    for fraction in (1.0, 0.5, 0.34):
        got = _best_views_error(err, agree, n_on, fraction, min_views=2)
        for m in range(200):
            e = np.sort(err[agree[:, m], m].numpy())
            if len(e) == 0:
                assert got[m] == 0
                continue
            k = len(e) if fraction >= 1 else min(max(math.ceil(fraction * len(e)), 2), len(e))
            assert got[m].item() == pytest.approx(e[:k].mean(), rel=1e-12, abs=1e-12)


def test_a_point_hidden_in_some_views_by_another_moving_object_keeps_its_depth_with_the_best_views():
    """Views 2 and 3 see a green moving object in front of the textured sphere (their masks still cover it): the
    mean colour error over all agreeing views rejects the sphere's depth for most of view 0's pixels; the error
    over the best-matching half of them keeps it."""
    views = _sphere_views()
    for v in (2, 3):
        views.images[v][views.masks[v]] = torch.tensor([0.1, 0.8, 0.1])
    on_sphere = {}
    for fraction in (1.0, 0.5):
        s = SweepSettings(near=1.0, far=10.0, stride=2, depth_samples=96, photo_best_fraction=fraction)
        pts = sweep_moving_points(views, s, torch.Generator().manual_seed(0))
        xyz = pts.xyz[pts.view == 0].numpy()
        on_sphere[fraction] = int((np.abs(np.linalg.norm(xyz - CENTER, axis=1) - RADIUS) < 0.1).sum())
    n_src = int(views.masks[0][1::2, 1::2].sum())
    assert on_sphere[0.5] > 0.75 * n_src > 1.5 * on_sphere[1.0], (on_sphere, n_src)


def test_one_depth_hypothesis_is_the_default_and_unchanged_on_a_clear_surface():
    views = _sphere_views()
    a = sweep_moving_points(views, SweepSettings(near=1.0, far=10.0, stride=2, depth_samples=96),
                            torch.Generator().manual_seed(0))
    b = sweep_moving_points(views, SweepSettings(near=1.0, far=10.0, stride=2, depth_samples=96, depth_hypotheses=2),
                            torch.Generator().manual_seed(0))
    assert b.xyz.shape[0] >= a.xyz.shape[0]
    dist = np.linalg.norm(b.xyz.numpy() - CENTER, axis=1)
    assert np.median(np.abs(dist - RADIUS)) < 0.05        # the extra points, if any, stay on the surface too


def test_voxel_downsample_one_point_per_voxel():
    xyz = torch.tensor([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [1.5, 0.0, 0.0]])
    pts = SweepPoints(xyz, torch.rand(3, 3), torch.ones(3), torch.zeros(3, dtype=torch.long))
    out = voxel_downsample(pts, 0.5, 10, torch.Generator().manual_seed(0))
    assert out.xyz.shape[0] == 2
    assert voxel_downsample(pts, 0.5, 1, torch.Generator().manual_seed(0)).xyz.shape[0] == 1


def test_voxel_select_keeps_first_hypotheses_before_second_ones():
    from sync4dgs.train.moving_sweep import voxel_select
    g = torch.Generator().manual_seed(0)
    xyz = (torch.floor(torch.rand(200, 3, generator=g) * 80.0) + 0.5) * 0.05   # voxel centres (voxel 0.05)
    hyp = (torch.arange(200) % 4 == 0).long()                # every 4th point is a second hypothesis
    xyz[hyp == 1] = xyz[hyp == 0][:50] + 0.01                # ... sharing a voxel with a first-hypothesis point
    pts = SweepPoints(xyz, torch.rand(200, 3, generator=g), torch.ones(200), torch.zeros(200, dtype=torch.long), hyp)
    voxels, keep = voxel_select(pts, 0.05, 1000, torch.Generator().manual_seed(1), max_second=10)
    assert int((voxels.hypothesis == 1).sum()) == 0          # a shared voxel keeps its first-hypothesis point
    pts.xyz[hyp == 1] += 5.0                                 # now apart: second points get their own voxels
    voxels, keep = voxel_select(pts, 0.05, 100, torch.Generator().manual_seed(1), max_second=10)
    kept = voxels.hypothesis[keep]
    assert int((kept == 0).sum()) == 100 and int((kept == 1).sum()) == 10


def test_seed_times_cover_range():
    t = seed_times_s((0.0, 1.0), 0.25)
    assert np.allclose(t, [0.0, 0.25, 0.5, 0.75, 1.0])


def test_seeds_on_tiny_scene_land_on_the_moving_blobs(gaussian_scene):
    """Seeds from 3 training cameras under the true clocks project onto the 4th camera's moving pixels."""
    scene = gaussian_scene
    maps = load_time_maps(scene.gt_sync_path)
    held = scene.camera("cam01")
    train = [c for c in scene.cameras if c.name != "cam01"]
    cfg = MovingSeedConfig(stride_px=1, max_points_per_time=500)
    times, points = collect_moving_points(scene, train, maps, (0.1, 1.0), cfg, torch.device("cpu"), progress=False)
    assert len(times) >= 5
    frames = open_frames(scene, held)
    allf = np.stack([frames[i] for i in range(len(frames))])
    masks = moving_mask(allf)
    hits = []
    for t, p in zip(times, points):
        i = int(round((t - maps.cameras["cam01"].offset_s) * held.fps))
        if not 0 <= i < held.n_frames or abs((t - maps.cameras["cam01"].offset_s) * held.fps - i) > 1e-6:
            continue
        uv = held.project(p.xyz.double().numpy())
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < held.width) & (uv[:, 1] >= 0) & (uv[:, 1] < held.height)
        u = np.floor(uv[inside]).astype(int)
        hits.append(masks[i][u[:, 1], u[:, 0]].mean())
    assert hits and np.mean(hits) > 0.5                           # held-out view: chance is the mask coverage
    assert np.mean(hits) > 5 * masks.mean()


def test_seed_moving_gaussians_appends_temporally_local_rows(gaussian_scene, make_cfg):
    from sync4dgs.model.initialize import model_from_points

    scene = gaussian_scene
    cfg = make_cfg()
    maps = load_time_maps(scene.gt_sync_path)
    model = model_from_points(np.zeros((4, 3)), np.full((4, 3), 128, np.uint8), (0.0, 1.3), cfg.model,
                              fps_ref=10.0)
    n = seed_moving_gaussians(model, scene, maps, (0.0, 1.3), cfg.moving, progress=False)
    assert n > 0 and model.n_dynamic == n
    centre = model.dynamic["t_center"].detach().mean(dim=1)
    spacing = cfg.moving.spacing_frames / 10.0
    at = temporal_opacity(centre, model.dynamic["t_center"], model.dynamic["t_logwidth"],
                          cfg.model.temporal_width_floor_s)
    far = temporal_opacity(centre + 3 * spacing, model.dynamic["t_center"], model.dynamic["t_logwidth"],
                           cfg.model.temporal_width_floor_s)
    assert torch.allclose(at, torch.ones_like(at))
    assert far.max() < 1e-3                                       # visible around its seed time only
    assert torch.allclose(torch.sigmoid(model.dynamic["opacities"]), torch.tensor(cfg.moving.init_opacity))
    # deterministic
    model2 = model_from_points(np.zeros((4, 3)), np.full((4, 3), 128, np.uint8), (0.0, 1.3), cfg.model,
                               fps_ref=10.0)
    seed_moving_gaussians(model2, scene, maps, (0.0, 1.3), cfg.moving, progress=False)
    assert torch.equal(model.dynamic["key_means"], model2.dynamic["key_means"])


@pytest.mark.parametrize("mode", ["always", "never"])
def test_seeding_through_the_frame_bank_matches_reading_the_files(gaussian_scene, mode):
    """Frames handed over by the trainer's FrameBank (resident tensors, or host arrays) give the seeds that
    reading the scene's files gives: same instants, same points up to area-averaging rounding."""
    from sync4dgs.train.framebank import FrameBank

    scene = gaussian_scene
    maps = load_time_maps(scene.gt_sync_path)
    cams = scene.train_cameras
    cfg = MovingSeedConfig(stride_px=1, max_points_per_time=500)
    bank = FrameBank(scene, cams, torch.device("cpu"), mode=mode, progress=False, host_cache="always")
    pos = {c.name: i for i, c in enumerate(cams)}
    if mode == "always":
        assert isinstance(bank.peek(0, 0), torch.Tensor)
    t_files, p_files = collect_moving_points(scene, cams, maps, (0.1, 1.0), cfg, torch.device("cpu"), progress=False)
    t_bank, p_bank = collect_moving_points(scene, cams, maps, (0.1, 1.0), cfg, torch.device("cpu"), progress=False,
                                           read=lambda cam, i: bank.peek(pos[cam.name], i))
    assert t_files == t_bank and len(p_files) >= 5
    for a, b in zip(p_files, p_bank):
        n = min(a.xyz.shape[0], b.xyz.shape[0])
        assert abs(a.xyz.shape[0] - b.xyz.shape[0]) <= 0.1 * max(a.xyz.shape[0], 1)
        ca, cb = a.xyz.mean(0), b.xyz.mean(0)
        assert n > 0 and torch.linalg.norm(ca - cb) < 0.05


def test_area_downscale_of_tensors_matches_opencv():
    """Frames on a device are area-averaged there; the result matches OpenCV's INTER_AREA on the host."""
    from sync4dgs.train.moving_seed import _downscale

    img = np.random.default_rng(3).integers(0, 256, (60, 84, 3), dtype=np.uint8)
    ours = _downscale(torch.from_numpy(img), (21, 15)).astype(int)       # factor 4
    cv = _downscale(img, (21, 15)).astype(int)
    assert ours.shape == cv.shape == (15, 21, 3) and ours.dtype == cv.dtype
    assert np.abs(ours - cv).max() <= 1


def test_disabled_seeding_adds_nothing(gaussian_scene, make_cfg):
    from sync4dgs.model.initialize import model_from_points

    cfg = make_cfg({"moving.enabled": "false"})
    model = model_from_points(np.zeros((4, 3)), np.full((4, 3), 128, np.uint8), (0.0, 1.3), cfg.model,
                              fps_ref=10.0)
    assert seed_moving_gaussians(model, gaussian_scene, load_time_maps(gaussian_scene.gt_sync_path), (0.0, 1.3),
                                 cfg.moving, progress=False) == 0
    assert model.n_dynamic == 0


def test_config_validation():
    with pytest.raises(ValueError):
        MovingSeedConfig(spacing_frames=0)
    with pytest.raises(ValueError):
        MovingSeedConfig(min_agreement=1.5)
    with pytest.raises(ValueError, match="frame_tolerance"):
        MovingSeedConfig(frame_tolerance=0)
    with pytest.raises(ValueError, match="velocity_instants"):
        MovingSeedConfig(velocity_instants=0)


def test_a_camera_takes_part_only_within_the_frame_tolerance(gaussian_scene):
    """frame_at: the nearest frame under the camera's time map, or None when it is more than frame_tolerance
    frames from the seed time (the fixture films at 10 fps: frames every 0.1 s of local time)."""
    from sync4dgs.timemap import TimeMap
    from sync4dgs.train.moving_seed import _CameraVideo

    cam = gaussian_scene.train_cameras[1]
    def video(tol):
        return _CameraVideo(cam, cam.K, (cam.width, cam.height), np.zeros((1, 1, 3), np.float32), cam.tau_s(),
                            TimeMap(0.25, 1.0, 1.0, "aligned"), tol)
    # global 0.55 s = local 0.30 s: frame 3 exactly; global 0.59 s = local 0.34 s: 0.4 frame from frame 3
    assert video(0.6).frame_at(0.55) == 3 and video(0.6).frame_at(0.59) == 3
    assert video(0.3).frame_at(0.55) == 3 and video(0.3).frame_at(0.59) is None


def test_cluster_velocities_follow_objects_that_move_more_than_their_size():
    """Two rigid point clouds (a red one moving +x fast, a blue one moving -y) seen at 3 instants: each cluster's
    velocity is its true velocity, although each moves more than its own size per instant."""
    from sync4dgs.train.moving_flow import cluster_velocities

    g = np.stack(np.meshgrid(*[np.arange(6) * 0.02] * 3, indexing="ij"), -1).reshape(-1, 3)   # 0.1-wide cube
    red = g[:200]
    blue = g[:150] + [2.0, 2.0, 0.0]
    v_red, v_blue, dt = np.array([6.0, 0, 0]), np.array([0, -3.0, 0]), 0.05   # 0.3 / 0.15 units per instant
    times = [0.0, dt, 2 * dt]
    xyz = [np.concatenate([red + v_red * t, blue + v_blue * t]) for t in times]
    rgb = [np.concatenate([np.tile([0.9, 0.1, 0.1], (200, 1)), np.tile([0.1, 0.1, 0.9], (150, 1))])] * 3
    vel = cluster_velocities(times, xyz, rgb, [0.02] * 3, dt)
    for v in vel:
        assert np.allclose(v[:200], v_red, atol=0.05) and np.allclose(v[200:], v_blue, atol=0.05)


def test_a_small_object_touching_a_larger_one_keeps_its_own_velocity():
    """A small white cube (27 points) flies diagonally at 3 units/s past the corner of a larger orange cube (512
    points) moving -z at 1 unit/s; at the middle of 5 instants they touch and form one cluster. Without the
    motion-aware split the white points there get the orange cube's velocity; with it they get (close to) their
    own, and the orange points keep theirs."""
    from sync4dgs.train.moving_flow import LINK, cluster_labels, cluster_velocities

    axis = lambda n: np.stack(np.meshgrid(*[np.arange(n) * 0.02] * 3, indexing="ij"), -1).reshape(-1, 3)  # noqa: E731
    white, orange = axis(3), axis(8)                                  # 0.04 and 0.14 wide
    v_w, v_o, dt = np.array([2.1, -2.1, 0]), np.array([0, 0, -1.0]), 0.05
    times = [k * dt for k in range(5)]
    xyz = [np.concatenate([white + [0.15, 0.15, 0.0] + v_w * (t - 2 * dt), orange + v_o * t]) for t in times]
    col = np.concatenate([np.tile([0.9, 0.9, 0.9], (27, 1)), np.tile([0.9, 0.5, 0.2], (512, 1))])
    rgb = [col] * len(times)
    n_clusters = [len(np.unique(cluster_labels(x, LINK * 0.02))) for x in xyz]
    assert n_clusters == [2, 2, 1, 2, 2]                              # they touch at instant 2 only
    plain = cluster_velocities(times, xyz, rgb, [0.02] * 5, dt, instants=2, split_passes=0)
    split = cluster_velocities(times, xyz, rgb, [0.02] * 5, dt, instants=2)
    err = lambda v: np.linalg.norm(v[:27] - v_w, axis=1).mean()                                 # noqa: E731
    assert err(plain[2]) > 2.5                                      # about the orange cube's velocity
    assert err(split[2]) < 0.3
    assert np.allclose(split[2][27:], v_o, atol=0.2)
    for j in (0, 1, 3, 4):                                          # followed through the split instant
        assert err(split[j]) < 0.3 and np.allclose(split[j][27:], v_o, atol=0.2)


def test_second_hypothesis_points_take_their_objects_velocity_and_leave_the_others_alone():
    """The red/blue clouds as SweepPoints, plus second-hypothesis points: a few on the red cloud (they take its
    velocity) and a bridge of them between the clouds (at wrong depths): the first-hypothesis velocities are
    exactly those computed without any second points."""
    from sync4dgs.train.moving_flow import seed_velocities

    g = np.stack(np.meshgrid(*[np.arange(6) * 0.02] * 3, indexing="ij"), -1).reshape(-1, 3)
    red, blue = g[:200], g[:150] + [0.3, 0.0, 0.0]           # close: a bridge of points would join them
    v_red, v_blue, dt = np.array([6.0, 0, 0]), np.array([0, -3.0, 0]), 0.05
    times = [0.0, dt, 2 * dt]
    col = np.concatenate([np.tile([0.9, 0.1, 0.1], (200, 1)), np.tile([0.1, 0.1, 0.9], (150, 1))])
    bridge = np.stack([np.linspace(0.1, 0.3, 12), np.full(12, 0.05), np.full(12, 0.05)], 1)
    first, both = [], []
    for t in times:
        xyz = np.concatenate([red + v_red * t, blue + v_blue * t])
        f = dict(dtype=torch.float64)
        first.append(SweepPoints(torch.tensor(xyz, **f), torch.tensor(col, **f), torch.full((350,), 0.02, **f),
                                 torch.zeros(350, dtype=torch.long)))
        extra = np.concatenate([red[:5] + v_red * t + 0.005, bridge + v_red * t * 0.5])
        xyz2 = np.concatenate([xyz, extra])
        col2 = np.concatenate([col, np.full((len(extra), 3), 0.5)])
        hyp = torch.cat([torch.zeros(350, dtype=torch.long), torch.ones(len(extra), dtype=torch.long)])
        both.append(SweepPoints(torch.tensor(xyz2, **f), torch.tensor(col2, **f),
                                torch.full((len(xyz2),), 0.02, **f), torch.zeros(len(xyz2), dtype=torch.long), hyp))
    v1 = seed_velocities(times, first, dt)
    v2 = seed_velocities(times, both, dt)
    for a, b in zip(v1, v2):
        assert torch.equal(a, b[:350])                        # first-hypothesis velocities untouched
        assert np.allclose(a[:200].numpy(), v_red, atol=0.05) and np.allclose(a[200:].numpy(), v_blue, atol=0.05)
        assert np.allclose(b[350:355].numpy(), v_red, atol=0.05)   # on the red cloud: its velocity


def test_following_clusters_over_more_instants_averages_out_centroid_noise():
    """A rigid cluster moving at 3 m/s, its centroid jittered by 1 cm per instant (a changing visible part): the line
    fit over 2 instants each way is closer to the truth than the 1-instant difference; with 1 instant the result is
    the mean displacement to the neighbours, as before."""
    from sync4dgs.train.moving_flow import cluster_velocities

    rng = np.random.default_rng(3)
    g = np.stack(np.meshgrid(*[np.arange(5) * 0.02] * 3, indexing="ij"), -1).reshape(-1, 3)
    v_true, dt = np.array([3.0, 0.0, 0.0]), 0.05
    times = [k * dt for k in range(9)]
    centres = [v_true * t + rng.normal(0, 0.01, 3) for t in times]
    xyz = [g + c for c in centres]
    rgb = [np.tile([0.8, 0.2, 0.2], (len(g), 1))] * len(times)
    one = cluster_velocities(times, xyz, rgb, [0.02] * len(times), dt, instants=1)
    two = cluster_velocities(times, xyz, rgb, [0.02] * len(times), dt, instants=2)
    err1 = np.mean([np.linalg.norm(one[j][0] - v_true) for j in range(2, 7)])
    err2 = np.mean([np.linalg.norm(two[j][0] - v_true) for j in range(2, 7)])
    assert err2 < 0.8 * err1
    j = 4
    assert np.allclose(one[j][0], (centres[j + 1] - centres[j - 1]) / (2 * dt))
    assert np.allclose(one[0][0], (centres[1] - centres[0]) / dt)          # one neighbour at the ends


def test_incremental_rematching_after_splits_equals_matching_everything_again():
    """cluster_velocities re-matches only the instants whose clusters a split changed; the result equals a full
    re-summarise / re-match / re-fit of every instant after each round (random objects, some crossing, specks)."""
    import sync4dgs.train.moving_flow as mf

    rng = np.random.default_rng(7)
    g = np.stack(np.meshgrid(*[np.arange(5) * 0.02] * 3, indexing="ij"), -1).reshape(-1, 3)
    small = g[:27]
    dt, J = 0.05, 12
    times = [k * dt for k in range(J)]
    big_v = rng.uniform(-1, 1, (6, 3))
    big_x = rng.uniform(-0.4, 0.4, (6, 3))
    small_v = rng.uniform(-3, 3, (4, 3))
    small_x = rng.uniform(-0.4, 0.4, (4, 3))
    cols = rng.uniform(0, 1, (10, 3))
    xyz, rgb = [], []
    for t in times:
        parts = [g + x + v * t for x, v in zip(big_x, big_v)] + [small + x + v * t for x, v in zip(small_x, small_v)]
        sizes = [len(g)] * 6 + [len(small)] * 4
        specks = rng.uniform(-0.6, 0.6, (8, 3))
        xyz.append(np.concatenate(parts + [specks]))
        rgb.append(np.concatenate([np.tile(c, (n, 1)) for c, n in zip(cols, sizes)] + [rng.uniform(0, 1, (8, 3))]))
    foot = [0.02] * J

    def reference(passes):
        labels = [mf.cluster_labels(x, mf.LINK * f) for x, f in zip(xyz, foot)]
        for p in range(passes + 1):
            summ = [mf._summaries(x, c, lab) for x, c, lab in zip(xyz, rgb, labels)]
            fwd = [mf._matches(summ, foot, times, j, j + 1, dt) for j in range(J)]
            bwd = [mf._matches(summ, foot, times, j, j - 1, dt) for j in range(J)]
            fits = [mf._fit_velocities(summ, fwd, bwd, times, j, 2) for j in range(J)]
            if p == passes:
                break
            labels = [mf._split_absorbed(j, xyz, rgb, labels, summ, fwd, bwd, fits, foot, times, dt)
                      for j in range(J)]
        return [v[lab] for v, lab in zip(fits, labels)], labels

    for passes in (1, 2, 3):
        want, labels = reference(passes)
        got = mf.cluster_velocities(times, xyz, rgb, foot, dt, instants=2, split_passes=passes)
        for a, b in zip(got, want):
            assert np.array_equal(a, b)
    n_split = sum(int(lab.max()) + 1 for lab in labels) - sum(
        int(mf.cluster_labels(x, mf.LINK * 0.02).max()) + 1 for x in xyz)
    assert n_split > 0                                              # the scene does exercise the split


def test_cluster_matching_by_kdtree_equals_the_dense_nearest_similar_rule():
    """_matches (k-d tree candidates) gives, for random clusters, exactly the dense rule: the nearest cluster of the
    neighbouring instant with similar colour and size, if within reach, else -1 (ties: the lowest index)."""
    import sync4dgs.train.moving_flow as mf

    rng = np.random.default_rng(11)
    for trial in range(5):
        summ = []
        palette = rng.uniform(0, 1, (4, 3))                    # both instants show the same few colours
        for m in (300, 280):
            cen = rng.uniform(-1, 1, (m, 3))
            cen[::7] = cen[::7].round(1)                       # some exactly equal distances (ties)
            col = palette[rng.integers(0, 4, m)] + rng.normal(0, 0.05, (m, 3))
            summ.append((cen, col, rng.integers(5, 40, m).astype(float), rng.uniform(0, 0.15, m)))
        foot, times = [0.01, 0.01], [0.0, 0.1]
        got = mf._matches(summ, foot, times, 0, 1, 0.1)
        (cen, col, count, ext), (cen2, col2, count2, _) = summ
        dist = np.linalg.norm(cen[:, None] - cen2[None], axis=-1)
        similar = ((np.abs(col[:, None] - col2[None]).max(-1) <= mf.COLOUR_TOLERANCE)
                   & (np.maximum(count[:, None], count2[None]) <= mf.SIZE_RATIO * np.minimum(count[:, None],
                                                                                              count2[None])))
        dist = np.where(similar, dist, np.inf)
        best = dist.argmin(1)
        ok = dist[np.arange(len(cen)), best] <= mf.MAX_STEP_EXTENTS * ext + mf.LINK * foot[0]
        want = np.where(ok, best, -1)
        assert np.array_equal(got, want) and (want >= 0).sum() >= 30
