"""Seed-cluster velocities refined against the camera frames around an instant (train/moving_velocity.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.train.moving_sweep import SweepPoints, SweepViews
from sync4dgs.train.moving_velocity import TimedViews, refine_instant

W, H, F = 128, 96, 100.0
RADIUS = 0.3


def _rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def _sphere(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points on the ball's surface (what a plane sweep puts seeds on)."""
    d = rng.normal(size=(n, 3))
    return RADIUS * d / np.linalg.norm(d, axis=1, keepdims=True)


def _views(velocity: np.ndarray, dts: list[float], rng: np.random.Generator, textured: bool) -> TimedViews:
    """Two cameras (front, side) seeing a ball at the origin moving with ``velocity``; frames at ``dts`` s."""
    Ks, Rs, ts, imgs, masks, dt_all = [], [], [], [], [], []
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
    dense = _sphere(40000, rng)
    for yaw in (0.0, 70.0):
        R, t = _rot_y(yaw), np.array([0.0, 0.0, 5.0])
        for dt in dts:
            x = (dense + velocity * dt) @ R.T + t
            order = np.argsort(-x[:, 2])                       # far to near: the nearest surface point wins
            x, src = x[order], dense[order]
            uv = (x @ K.T)[:, :2] / x[:, 2:]
            px = np.floor(uv).astype(int)
            ok = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
            img = np.full((H, W, 3), 0.5, np.float32)
            m = np.zeros((H, W), bool)
            m[px[ok, 1], px[ok, 0]] = True
            img[px[ok, 1], px[ok, 0]] = _colour(src[ok]) if textured else (1.0, 0.1, 0.1)
            Ks.append(K), Rs.append(R), ts.append(t), imgs.append(img), masks.append(m), dt_all.append(dt)
    f = dict(dtype=torch.float32)
    return TimedViews(SweepViews(Ks=torch.tensor(np.stack(Ks), **f), Rs=torch.tensor(np.stack(Rs), **f),
                                 ts=torch.tensor(np.stack(ts), **f), images=torch.tensor(np.stack(imgs)),
                                 masks=torch.tensor(np.stack(masks))), torch.tensor(dt_all, **f))


def _colour(xyz: np.ndarray) -> np.ndarray:
    """A smooth colour texture attached to the object (moves with it)."""
    return (0.5 + 0.45 * np.sin(6.0 * xyz[:, [0, 1, 2]] / RADIUS + np.array([0.0, 1.0, 2.0]))).astype(np.float32)


def _seeds(rng: np.random.Generator, textured: bool) -> SweepPoints:
    xyz = _sphere(300, rng)
    rgb = _colour(xyz) if textured else np.tile(np.array([1.0, 0.1, 0.1], np.float32), (len(xyz), 1))
    f = dict(dtype=torch.float32)
    return SweepPoints(torch.tensor(xyz, **f), torch.tensor(rgb), torch.full((len(xyz),), 0.06, **f),
                       torch.zeros(len(xyz), dtype=torch.long))


@pytest.mark.parametrize("textured", [False, True])
@pytest.mark.parametrize("start", ["zero", "half"])
def test_refined_velocity_recovers_a_fast_ball_from_frames_around_the_instant(textured, start):
    rng = np.random.default_rng(0)
    truth = np.array([4.0, -1.5, 1.0])                       # 0.4 units per 0.1 s: more than the ball's radius
    timed = _views(truth, [-0.1, 0.1], rng, textured)
    pts = _seeds(rng, textured)
    v0 = torch.zeros(3) if start == "zero" else torch.tensor(truth / 2, dtype=torch.float32)
    before = torch.tensor(truth, dtype=torch.float32) - v0
    out = refine_instant(pts, v0.expand(len(pts.xyz), 3).clone(), timed, spacing_s=0.1, photo_tolerance=0.2,
                         generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, out[0].expand_as(out))        # one velocity per cluster
    err = (out[0] - torch.tensor(truth, dtype=torch.float32)).norm()
    assert err < 0.15 * np.linalg.norm(truth) and err < 0.5 * before.norm()


def test_a_static_ball_keeps_a_near_zero_velocity():
    rng = np.random.default_rng(1)
    timed = _views(np.zeros(3), [-0.1, 0.1], rng, False)
    pts = _seeds(rng, False)
    out = refine_instant(pts, torch.zeros(len(pts.xyz), 3), timed, spacing_s=0.1, photo_tolerance=0.2,
                         generator=torch.Generator().manual_seed(0))
    assert out.norm(dim=1).max() < 0.3                      # < 0.03 units per 0.1 s: a fraction of a pixel here


def test_without_frames_around_the_instant_velocities_are_unchanged():
    rng = np.random.default_rng(2)
    pts = _seeds(rng, False)
    v = torch.randn(len(pts.xyz), 3, generator=torch.Generator().manual_seed(0))
    empty = TimedViews(SweepViews(torch.zeros(0, 3, 3), torch.zeros(0, 3, 3), torch.zeros(0, 3),
                                  torch.zeros(0, H, W, 3), torch.zeros(0, H, W, dtype=torch.bool)), torch.zeros(0))
    assert torch.equal(refine_instant(pts, v, empty, 0.1, 0.2), v)


def test_refinement_brings_the_tiny_scenes_seed_velocities_closer_to_the_truth(gaussian_scene):
    """End to end through collect_moving_voxels (moving.velocity_refine): the two blobs of the tiny scene move
    1.5 units/s; the refined velocities of their seeds are closer to their true velocities than the matched ones."""
    from .conftest import blob_positions

    from sync4dgs.timemap import load_time_maps
    from sync4dgs.train.config import MovingSeedConfig
    from sync4dgs.train.moving_seed import collect_moving_voxels

    maps = load_time_maps(gaussian_scene.gt_sync_path)
    errors = {}
    for refine in (False, True):
        times, voxels, _, vel = collect_moving_voxels(gaussian_scene, gaussian_scene.train_cameras, maps, (0.1, 1.0),
                                                      MovingSeedConfig(velocity_refine=refine), torch.device("cpu"),
                                                      progress=False)
        err = []
        for t, p, v in zip(times, voxels, vel):
            true_v = (blob_positions(t + 1e-3) - blob_positions(t - 1e-3)) / 2e-3           # [2, 3]
            x = p.xyz.double().numpy()
            nearest = np.linalg.norm(x[:, None] - blob_positions(t)[None], axis=-1).argmin(1)
            err.append(np.linalg.norm(v.double().numpy() - true_v[nearest], axis=1))
        errors[refine] = float(np.concatenate(err).mean())
    assert errors[True] < 0.9 * errors[False]


def test_an_instant_without_neighbouring_frames_keeps_its_matched_velocities(gaussian_scene):
    """A window narrower than the frame spacing finds no frames around the instant: velocities are unchanged."""
    from sync4dgs.timemap import load_time_maps
    from sync4dgs.train.config import MovingSeedConfig
    from sync4dgs.train.moving_seed import _FramesAround, _open_videos
    from concurrent.futures import ThreadPoolExecutor

    maps = load_time_maps(gaussian_scene.gt_sync_path)
    cams = gaussian_scene.train_cameras
    with ThreadPoolExecutor(1) as pool:
        videos, sources = _open_videos(gaussian_scene, cams, maps, MovingSeedConfig(), pool, None)
        timed = _FramesAround(videos, sources, pool, 0.1, torch.device("cpu")).at(0.55, 0.001)
    assert timed.dt_s.numel() == 0
    pts = _seeds(np.random.default_rng(3), False)
    v = torch.ones(len(pts.xyz), 3)
    assert torch.equal(refine_instant(pts, v, timed, 0.1, 0.2), v)
