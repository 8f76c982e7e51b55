"""Stage-1 cues on real-footage failure modes, on seeded synthetic data: moving-pixel masks
(sync4dgs/sync/align/motion.py) under exposure drift, a bystander who stands still and slight camera shake; the
significance confidence of a pair's score curve (pairscore.gap_confidence); the combination of cues where one
has no data (pairs._combine)."""

import numpy as np
import pytest

from sync4dgs.sync.align.klt import foreground_masks_and_differences
from sync4dgs.sync.align.motion import flow_motion, gain_compensated_differences, motion_masks
from sync4dgs.sync.align.pairscore import gap_confidence

T, H, W = 24, 96, 128


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    import cv2

    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(20, 235)


def _scene(seed: int = 0, gain_drift: float = 0.0, shake_px: int = 0):
    """Frames [T, H, W, 3] uint8 of a textured static background with a textured 20x20 square moving 3 px per
    frame left to right, and a textured 24x24 "bystander" who stands still in frames 0..9 (absent later);
    optional global gain ramp (1 - drift .. 1 + drift) and random integer shifts of the whole frame.
    Returns (rgb, truth [T, H, W] bool of the moving square, bystander [H, W] bool)."""
    import cv2

    rng = np.random.default_rng(seed)
    bg = _texture(rng, H + 8, W + 8)
    sq = _texture(rng, 20, 20)
    person = _texture(rng, 24, 24)
    rgb = np.empty((T, H, W, 3), np.uint8)
    truth = np.zeros((T, H, W), bool)
    stand = np.zeros((H, W), bool)
    stand[60:84, 90:114] = True
    for i in range(T):
        f = bg.copy()
        x0 = 10 + 3 * i
        f[40:60, x0:x0 + 20] = sq
        if i < 10:
            f[64:88, 94:118] = person
        dx, dy = (rng.integers(-shake_px, shake_px + 1, 2) if shake_px else (0, 0))
        f = f[4 + dy:4 + dy + H, 4 + dx:4 + dx + W]
        g = 1.0 + gain_drift * (2 * i / (T - 1) - 1)
        f = f * g + rng.normal(0, 2.0, f.shape)
        rgb[i] = np.clip(f, 0, 255).astype(np.uint8)
        truth[i, 36:56, x0 - 4:x0 + 16] = True
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])
    return rgb, gray, truth, stand


# frames 9 and 10: the bystander leaves (a real change, correctly flagged as moving then)
STEADY = [i for i in range(1, T - 1) if i not in (9, 10)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_motion_masks_find_the_moving_object_and_not_the_still_bystander():
    rgb, gray, truth, stand = _scene(0)
    masks, _ = motion_masks(rgb, gray, 12.0, 40, 1.0, 4)
    ious = [_iou(masks[i], truth[i]) for i in STEADY]
    assert min(ious) > 0.6, ious
    # the bystander differs from the median background in frames 0..9 but never moves
    median_masks, _ = foreground_masks_and_differences(rgb, 12.0, 40)
    assert median_masks[2:9][:, stand].mean() > 0.5          # the plain background model flags them
    assert masks[2:9][:, stand].mean() < 0.05


def test_gain_compensation_removes_exposure_drift():
    rgb, gray, truth, _ = _scene(1, gain_drift=0.15)
    bg = np.median(rgb, axis=0).round().astype(np.uint8)
    plain = np.abs(rgb.astype(np.int16) - bg.astype(np.int16)).max(-1)
    comp = gain_compensated_differences(rgb, bg)
    static = ~truth[0] & ~truth[-1]
    far = [0, T - 1]                                          # the frames with the strongest drift
    assert np.median(plain[far][:, static]) > 15              # +-15 % exposure: the whole frame differs
    assert np.median(comp[far][:, static]) < 6
    masks, _ = motion_masks(rgb, gray, 12.0, 40, 1.0, 4)
    outside = ~truth.any(0)
    assert masks[STEADY][:, outside].mean() < 0.01
    assert min(_iou(masks[i], truth[i]) for i in STEADY) > 0.6


def test_flow_motion_ignores_slight_camera_shake():
    rgb, gray, truth, _ = _scene(2, shake_px=1)
    moving = flow_motion(gray, 1.0)
    outside = ~truth.any(0)
    assert moving[:, outside].mean() < 0.05
    assert np.mean([moving[i][truth[i]].mean() for i in range(1, T - 1)]) > 0.5


def test_gap_confidence_is_invariant_to_a_score_floor_and_zero_for_two_equal_minima():
    rng = np.random.default_rng(0)
    row = 1.0 + rng.normal(0, 0.01, 61)
    row[30] = 0.85                       # a clear dip, on a floor that makes best / runner-up close to 1
    best, runner = row[30], np.min(np.delete(row, [29, 30, 31]))
    assert 1 - best / runner < 0.2
    assert gap_confidence(row, best, runner, 8.0) == pytest.approx(1.0)
    shifted = row + 10.0                 # the same curve on a higher floor
    assert gap_confidence(shifted, best + 10, runner + 10, 8.0) == pytest.approx(1.0)
    periodic = row.copy()
    periodic[50] = 0.85                  # an equally good minimum elsewhere
    assert gap_confidence(periodic, 0.85, 0.85, 8.0) == 0.0
    assert gap_confidence(row, best, runner, 0.0) == 0.0  # off
    assert gap_confidence(row[:10], best, runner, 8.0) == 0.0  # too few lags for a noise level


def test_combined_curve_is_not_decided_by_a_negligible_cue_where_the_trusted_cue_has_no_data():
    from sync4dgs.sync.align.pairs import _combine

    lags = 41
    tracks = np.full((1, lags), 1.0)
    tracks[0, 20] = 0.6                  # the trusted cue's minimum
    tracks[0, 36:] = np.nan              # edge lags: too few tracks overlap
    pencil = np.full((1, lags), 1.0)
    pencil[0, 38] = 0.0                  # a degenerate zero of a cue that carries no confidence
    out = _combine({"pencil": pencil, "tracks": tracks}, {"pencil": 1e-16, "tracks": 0.3})
    assert np.isnan(out[0, 36:]).all()
    assert int(np.nanargmin(out[0])) == 20
    both = _combine({"pencil": pencil, "tracks": tracks}, {"pencil": 0.3, "tracks": 0.3})
    assert np.isfinite(both[0, 36:]).all()   # equally trusted cues still score every lag either covers
