"""Error-driven second seeding of the moving content (sync4dgs/train/moving_refill.py)."""

from __future__ import annotations

import numpy as np
import torch

from sync4dgs.train.moving_refill import MovingRefill, novel_points, wrong_moving_pixels
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer


def _frames():
    """A grey 8x8 background and a recording of it with a red 2x2 square at rows/cols 2-3 (uint8)."""
    bg = np.full((8, 8, 3), 0.5, np.float32)
    rec = (bg * 255).astype(np.uint8)
    rec[2:4, 2:4] = (230, 20, 20)
    return bg, torch.from_numpy(rec)


def test_wrong_moving_pixels_are_the_moving_content_the_render_misses():
    bg, rec = _frames()
    missing = wrong_moving_pixels(torch.from_numpy(bg.copy()), rec, bg, 0.1, 0.1)       # render = static scene
    assert missing[2:4, 2:4].all() and missing.sum() == 4
    exact = wrong_moving_pixels(rec.float() / 255.0, rec, bg, 0.1, 0.1)                # render = recording
    assert not exact.any()
    ren = rec.float() / 255.0
    ren[6, 6] = torch.tensor([0.0, 1.0, 0.0])                                           # a static pixel wrong
    assert not wrong_moving_pixels(ren, rec, bg, 0.1, 0.1).any()


def test_wrong_moving_pixels_on_a_downscaled_view():
    bg, rec = _frames()
    big = torch.from_numpy(np.repeat(np.repeat(rec.numpy(), 2, 0), 2, 1))               # 16x16 recording
    ren = torch.full((16, 16, 3), 0.5)
    m = wrong_moving_pixels(ren, big, bg, 0.1, 0.1)                                     # compared at 8x8
    assert m.shape == (8, 8) and m[2:4, 2:4].all() and m.sum() == 4


def test_novel_points_leave_out_what_the_model_has():
    xyz = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    foot = np.full(3, 0.1)
    existing = np.array([[0.05, 0.0, 0.0], [1.5, 0.0, 0.0]])
    assert novel_points(xyz, foot, existing).tolist() == [False, True, True]            # 0.05 < 2 x 0.1 < 0.5
    assert novel_points(xyz, foot, np.zeros((0, 3))).all()


def test_refill_appends_seeds_once_and_training_goes_on(gaussian_scene, make_cfg, offsets_file, tmp_path):
    """One seed per instant at first (cap 1): the refill at step 10 finds the rest of the moving blobs missing."""
    offsets = offsets_file(tmp_path / "gt.json", {"cam00": 0.0, "cam01": 0.1, "cam02": -0.1, "cam03": 0.2})
    cfg = make_cfg({"train.iterations": "20", "moving.max_points_per_time": "1", "moving.refill_at": "0.5",
                    "densify.static.enabled": "false", "densify.convert.enabled": "false"})
    s = build_session(gaussian_scene, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    refill = next(cb for cb in s.callbacks if isinstance(cb, MovingRefill))
    assert refill.at_step == 10
    n_before = s.model.n_dynamic
    Trainer(s).run()
    assert refill.done and refill.n_added > 0
    assert s.model.n_dynamic == n_before + refill.n_added
    stepped = 0
    for name, opt in s.state.optimizers["dynamic"].items():       # optimiser state grew in lock-step
        param = opt.param_groups[0]["params"][0]
        assert param is s.model.dynamic[name] and param.shape[0] == s.model.n_dynamic, name
        for moment in (v for v in opt.state.get(param, {}).values() if v.dim() > 0):
            assert moment.shape == param.shape, name
            stepped += 1
    assert stepped > 0
    assert all(torch.isfinite(v).all() for v in s.model.dynamic.values())
    again = MovingRefill(s, 10)
    again.load_state_dict(refill.state_dict())                    # a resumed run does not seed twice
    assert again.done and again.n_added == refill.n_added


def test_refill_is_off_by_default(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg({"train.iterations": "4"}), progress=False)
    assert not any(isinstance(cb, MovingRefill) for cb in s.callbacks)
