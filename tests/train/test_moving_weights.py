"""Moving-pixel weights of the L1 loss (loss.moving_weight): masks, medians, the weighted loss, the training path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.data.frames import open_frames
from sync4dgs.data.motion_mask import median_frame_indices, temporal_median
from sync4dgs.errors import ConfigError
from sync4dgs.train.framebank import FrameBank
from sync4dgs.train.losses import photometric_loss
from sync4dgs.train.moving_weights import MovingPixelWeights, median_background, moving_pixel_weights
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer


def test_weights_mark_the_moving_square_dilated():
    bg = torch.full((20, 30, 3), 0.5)
    gt = bg.clone()
    gt[5:9, 10:14, 1] = 0.9                       # a 4x4 moving square (one channel differs by 0.4)
    gt[0, 0, 0] = 0.55                            # below the threshold: not moving
    w = moving_pixel_weights(gt, bg, weight=3.0, threshold=0.1, dilate_px=1)
    assert w.shape == (20, 30, 1)
    expect = torch.ones(20, 30)
    expect[4:10, 9:15] = 4.0                      # the square grown by one pixel each side
    torch.testing.assert_close(w[..., 0], expect)
    w0 = moving_pixel_weights(gt, bg, weight=3.0, threshold=0.1, dilate_px=0)
    assert int((w0 > 1).sum()) == 16


@pytest.mark.parametrize("n", [7, 8])
def test_median_background_equals_numpys_median(n):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
    ours = median_background([torch.from_numpy(f) for f in frames]).numpy()
    np.testing.assert_allclose(ours, temporal_median(frames), atol=1e-6)


def test_ones_give_the_plain_loss_and_weights_scale_the_moving_gradient():
    torch.manual_seed(0)
    gt = torch.rand(8, 9, 3)
    img = torch.rand(8, 9, 3, requires_grad=True)
    plain = photometric_loss(img, gt, 0.2)
    torch.testing.assert_close(photometric_loss(img, gt, 0.2, torch.ones(8, 9, 1)), plain)
    w = torch.ones(8, 9, 1)
    w[2, 3] = 5.0
    (g_plain,) = torch.autograd.grad(photometric_loss(img, gt, 0.0), img)
    (g_weighted,) = torch.autograd.grad(photometric_loss(img, gt, 0.0, w), img)
    torch.testing.assert_close(g_weighted[2, 3], 5.0 * g_plain[2, 3])
    torch.testing.assert_close(g_weighted[0], g_plain[0])


def test_weights_of_a_training_camera_follow_its_moving_blobs(gaussian_scene):
    cams = gaussian_scene.train_cameras
    bank = FrameBank(gaussian_scene, cams, torch.device("cpu"), "always", progress=False)
    weights = MovingPixelWeights(bank, weight=2.0, threshold=0.1, dilate_px=0)
    src = open_frames(gaussian_scene, cams[1])
    idx = median_frame_indices(len(src))
    np.testing.assert_allclose(weights.background(1).numpy(), temporal_median(np.stack([src[int(i)] for i in idx])),
                               atol=1e-6)
    w = weights.at(1, bank.get(1, 4))
    moving = (w[..., 0] > 1).float().mean().item()
    assert 0.002 < moving < 0.3                   # the two blobs, not the wall
    assert set(torch.unique(w).tolist()) <= {1.0, 3.0}


def test_training_with_moving_weights_runs_and_is_off_by_default(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "off", make_cfg({"train.iterations": "2"}), progress=False)
    assert s.pixel_weights is None
    cfg = make_cfg({"train.iterations": "6", "loss.moving_weight": "4"})
    s = build_session(gaussian_scene, tmp_path / "on", cfg, progress=False)
    assert isinstance(s.pixel_weights, MovingPixelWeights)
    Trainer(s).run()
    assert s.state.step == 6
    assert all(torch.isfinite(v).all() for v in s.model.dynamic.values())


@pytest.mark.parametrize("key,value", [("loss.moving_weight", "-1"), ("loss.moving_dilate_px", "-2")])
def test_bad_moving_weight_settings_name_the_key(make_cfg, key, value):
    with pytest.raises(ConfigError, match=key):
        make_cfg({key: value})
