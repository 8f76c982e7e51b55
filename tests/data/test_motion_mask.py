"""Moving-pixel masks from a video's own temporal median."""

import numpy as np
import pytest

from sync4dgs.data.motion_mask import moving_mask, temporal_median


def _video(T=9, H=12, W=16, seed=0):
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], T, axis=0)
    truth = np.zeros((T, H, W), dtype=bool)
    for i in range(T):                      # a 3x3 white square moving one pixel per frame along a row
        frames[i, 4:7, i:i + 3] = 255
        truth[i, 4:7, i:i + 3] = (bg[4:7, i:i + 3] < 230).any(axis=-1)
    return bg, frames, truth


def test_median_is_background_and_mask_is_object():
    bg, frames, truth = _video()
    med = temporal_median(frames)
    assert np.allclose(med, bg / 255.0)
    mask = moving_mask(frames)
    assert mask.shape == truth.shape
    assert np.array_equal(mask, truth)


def test_uint8_and_float_agree_and_threshold():
    _, frames, _ = _video()
    assert np.array_equal(moving_mask(frames), moving_mask(frames / 255.0))
    assert not moving_mask(frames, threshold=1.0).any()


def test_bad_shape():
    with pytest.raises(ValueError):
        temporal_median(np.zeros((4, 4, 3)))
