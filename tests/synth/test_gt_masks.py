"""The generator's true moving-object masks (gt_masks/<camera>.npz)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sync4dgs.data.gt_masks import gt_mask_path, load_gt_masks, pack_mask, save_gt_masks
from sync4dgs.data.synth import generate, load_synth, make_config, render_frames, render_geometry
from sync4dgs.data.synth.render import render_frames_with_masks
from sync4dgs.errors import DataFormatError


def _neighbourhood_all(x: np.ndarray) -> np.ndarray:
    """bool [H, W]: x is True at the pixel and its 8 neighbours (False on the border)."""
    out = np.zeros_like(x)
    h, w = x.shape
    acc = np.ones((h - 2, w - 2), dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            acc &= x[1 + di:h - 1 + di, 1 + dj:w - 1 + dj]
    out[1:-1, 1:-1] = acc
    return out


def test_true_masks_cover_the_moving_objects_and_not_the_walls(tiny_canonical):
    root, cfg = tiny_canonical
    plan = load_synth(root)
    moving_ids = [k for k, p in enumerate(plan.scene.primitives) if not p.is_static]
    sphere_ids = [k for k in moving_ids if plan.scene.primitives[k].kind == "sphere"]
    meta = json.loads((root / "synth_meta.json").read_text())
    assert meta["gt_masks"]["files"] == {c.name: f"gt_masks/{c.name}.npz" for c in plan.cameras}
    n_sphere_px = 0
    for cam in plan.cameras:
        masks = load_gt_masks(gt_mask_path(root, cam.name))
        times = plan.frame_times_s(cam.name)
        assert masks.shape == (len(times), cam.height, cam.width) and masks.dtype == bool
        assert 0.0 < masks.mean() < 0.5
        for i in (0, len(times) // 2, len(times) - 1):
            geo = render_geometry(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, times[i], "cpu")
            on_moving = np.isin(geo.prim, moving_ids)
            on_sphere = np.isin(geo.prim, sphere_ids)
            # pixels whose centre and 8 neighbours all see a moving object (a moving sphere) are True ...
            assert masks[i][_neighbourhood_all(on_moving)].all()
            n_sphere_px += int(_neighbourhood_all(on_sphere).sum())
            # ... and those whose neighbourhood sees only static surfaces (walls, floor, props) are False
            assert not masks[i][_neighbourhood_all(~on_moving)].any()
            assert masks[i][on_moving].mean() > 0.95
    assert n_sphere_px > 0


def test_masks_come_with_bit_identical_frames_and_are_deterministic(tmp_path):
    small = dict(n_cams=2, n_frames=3, width=48, height=36, max_offset_s=0.3, layout="canonical", device="cpu",
                 n_points=200, seed=5)
    a = generate(make_config(**small), tmp_path / "a", progress=False)
    b = generate(make_config(**small), tmp_path / "b", progress=False)
    plan = load_synth(a)
    for cam in plan.cameras:
        ma, mb = load_gt_masks(gt_mask_path(a, cam.name)), load_gt_masks(gt_mask_path(b, cam.name))
        assert np.array_equal(ma, mb)
        assert gt_mask_path(a, cam.name).read_bytes() == gt_mask_path(b, cam.name).read_bytes()
        args = (plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, plan.frame_times_s(cam.name), "cpu",
                plan.config.supersample, 48 * 36 * 4)           # a small ray budget: row tiles
        plain = np.concatenate([img.numpy() for _, img in render_frames(*args)])
        with_m = list(render_frames_with_masks(*args))
        assert np.array_equal(plain, np.concatenate([img.numpy() for _, img, _ in with_m]))
        assert np.array_equal(ma, np.concatenate([m.numpy() for _, _, m in with_m]))


def test_mask_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(3, 5, 13)) < 0.3
    save_gt_masks(tmp_path / "gt_masks" / "c.npz", pack_mask(masks), 13)
    assert np.array_equal(load_gt_masks(tmp_path / "gt_masks" / "c.npz"), masks)
    with pytest.raises(ValueError):
        save_gt_masks(tmp_path / "x.npz", pack_mask(masks), 20)
    with pytest.raises(DataFormatError, match="not found"):
        load_gt_masks(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", bits=np.zeros((3, 5, 1), np.uint8), width=np.int64(13))
    with pytest.raises(DataFormatError, match="bits"):
        load_gt_masks(tmp_path / "bad.npz")
