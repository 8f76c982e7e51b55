"""The moving-pixel loss term (loss.moving_l1): masks from the training video, the masked L1, the trainer wiring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.data.frames import open_frames
from sync4dgs.data.motion_mask import moving_mask, temporal_median
from sync4dgs.train import load_config
from sync4dgs.train.callbacks import Callback
from sync4dgs.train.framebank import FrameBank
from sync4dgs.train.losses import masked_l1
from sync4dgs.train.moving_pixels import MovingPixels
from sync4dgs.train.objective import Objective
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer


def test_masked_l1_is_the_mean_error_over_the_mask():
    gen = torch.Generator().manual_seed(0)
    img, gt = torch.rand(6, 5, 3, generator=gen), torch.rand(6, 5, 3, generator=gen)
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[1:3, 2:4] = True
    expected = (img - gt).abs()[mask].mean()
    torch.testing.assert_close(masked_l1(img, gt, mask), expected)
    x = img.clone().requires_grad_(True)
    masked_l1(x, gt, torch.zeros_like(mask)).backward()        # empty mask: 0, finite zero gradient
    assert float(masked_l1(img, gt, torch.zeros_like(mask))) == 0.0 and torch.all(x.grad == 0)


def test_mask_matches_the_metric_definition_on_the_scene_video(gaussian_scene):
    """Undilated, the trainer's mask is the moving-region definition (data/motion_mask.py), up to float rounding
    at the threshold."""
    cams = gaussian_scene.train_cameras
    bank = FrameBank(gaussian_scene, cams, torch.device("cpu"), "always", progress=False)
    moving = MovingPixels(bank, threshold=0.1, dilate_px=0)
    for pos in (0, 2):
        frames = np.stack(list(open_frames(gaussian_scene, cams[pos])))
        ref = moving_mask(frames, temporal_median(frames, 48), 0.1)
        for i in (0, 7, len(frames) - 1):
            ours = moving.mask(pos, bank.get(pos, i)).numpy()
            assert ref[i].sum() > 20                        # the blobs are there
            assert (ours != ref[i]).mean() < 1e-3
    grown = MovingPixels(bank, threshold=0.1, dilate_px=2)
    m0, m2 = moving.mask(0, bank.get(0, 3)), grown.mask(0, bank.get(0, 3))
    assert bool((m2 | ~m0).all()) and int(m2.sum()) > int(m0.sum())     # dilation only adds pixels


def test_mask_rejects_a_frame_of_another_size(gaussian_scene):
    bank = FrameBank(gaussian_scene, gaussian_scene.train_cameras, torch.device("cpu"), "always", progress=False)
    with pytest.raises(ValueError, match="does not match camera 1"):
        MovingPixels(bank).mask(1, torch.zeros(4, 4, 3))


def test_objective_adds_the_term_only_when_weighted():
    img, gt = torch.zeros(4, 4, 3), torch.ones(4, 4, 3)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0] = True
    on = Objective(load_config(None, {"loss.moving_l1": "0.5"}).loss)(img, gt, torch.nn.Module(), 1, mask)
    off = Objective(load_config(None, {}).loss)(img, gt, torch.nn.Module(), 1, mask)
    assert "moving" not in off and float(on["moving"]) == pytest.approx(0.5)
    assert float(on["total"]) == pytest.approx(float(off["total"]) + 0.5)


class _Terms(Callback):
    name = "terms"

    def __init__(self):
        self.moving = []

    def after_step(self, state, info):
        self.moving.append(float(info.losses.get("moving", torch.tensor(float("nan")))))


def test_training_uses_the_term_and_config_validation(gaussian_scene, make_cfg, tmp_path):
    cfg = make_cfg({"train.iterations": "6", "time.align": "false", "loss.moving_l1": "1.0"})
    s = build_session(gaussian_scene, tmp_path / "m", cfg, progress=False)
    assert s.moving_pixels is not None and len(s.moving_pixels.medians) == len(gaussian_scene.train_cameras)
    rec = _Terms()
    s.callbacks.append(rec)
    Trainer(s).run()
    assert len(rec.moving) == 6 and all(np.isfinite(rec.moving)) and max(rec.moving) > 0
    assert build_session(gaussian_scene, tmp_path / "m2", make_cfg({"train.iterations": "1"}),
                         progress=False).moving_pixels is None
    for key, value in (("loss.moving_l1", "-1"), ("loss.moving_threshold", "1.5"), ("loss.moving_dilate_px", "-2")):
        with pytest.raises(Exception, match=key.split(".")[1]):
            load_config(None, {key: value})
