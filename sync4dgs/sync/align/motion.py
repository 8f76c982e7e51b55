"""Moving-pixel masks that hold on real video: a gain-compensated background model and dense optical flow.

The plain temporal-median background (klt.foreground_masks_and_differences) marks every pixel that differs
from the median: on real footage that is also the person who sits in the scene the whole time (half of their
body differs from a median that could never see the wall behind them), every pixel of a frame whose exposure
or white balance drifted, and compression noise. Two cues fix this:

* **gain compensation**: each frame's colour channels are scaled by the robust (median) ratio of the frame to
  the background before differencing, so auto-exposure / white-balance drift and global flicker do not flag
  the whole frame;
* **dense optical flow** (OpenCV DIS, mean-normalised patches, so robust to brightness changes): a pixel of
  frame t *moves* when its flow to frame t-1 or t+1, minus the frame's median flow (slight camera shake),
  exceeds ``flow_min_px``. A static bystander or a still torso never moves; a moving arm, a waved board do.

``motion_masks`` (mode "motion") keeps the pixels that are background-different AND close to moving pixels
(dilated flow mask), plus the moving pixels themselves: silhouettes of moving objects keep their full extent
(where the background model is good, i.e. synthetic scenes, masks are unchanged up to pixels that do not move),
while everything that differs but never moves is dropped. All arrays at tracking resolution:
rgb [T, h, w, 3] uint8, gray [T, h, w] uint8, masks [T, h, w] bool, differences [T, h, w] uint8 (grey levels).
"""

from __future__ import annotations

import numpy as np

_GAIN_MIN_BG = 24     # background grey level below which a pixel does not vote for the frame's gain
_GAIN_RANGE = (0.5, 2.0)
_FLOW_MAX_SIDE = 320  # flow is computed on frames downscaled to this longer side (then upsampled)


def gain_compensated_differences(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Largest channel difference [T, h, w] uint8 of each frame to ``bg`` [h, w, 3] after scaling every colour
    channel of the frame by its robust gain: median(frame / bg) over pixels whose background is bright enough
    (subsampled), clipped to [0.5, 2]."""
    t = len(rgb)
    out = np.empty(rgb.shape[:3], np.uint8)
    bgf = bg.astype(np.float32)
    sub = (slice(None, None, 3), slice(None, None, 3))
    bs = bgf[sub]
    use = bs.min(-1) >= _GAIN_MIN_BG
    for i in range(t):
        f = rgb[i].astype(np.float32)
        if use.sum() >= 16:
            g = np.median(f[sub][use] / bs[use], axis=0)
        else:
            g = np.ones(3, np.float32)
        g = np.clip(g, *_GAIN_RANGE)
        d = np.abs(f - bgf * g[None, None, :])
        out[i] = np.clip(d.max(-1), 0, 255).astype(np.uint8)
    return out


def flow_motion(gray: np.ndarray, min_px: float) -> np.ndarray:
    """[T, h, w] bool: pixels of frame t whose DIS flow to t-1 or t+1 (minus the frame's median flow, i.e.
    slight camera shake) is longer than ``min_px`` pixels (tracking resolution). Flow runs on frames
    downscaled to a longer side of at most 320 px (DIS "ultrafast" preset refined down to half resolution),
    the mask is upsampled (nearest)."""
    import cv2  # noqa: PLC0415

    t, h, w = gray.shape
    s = min(1.0, _FLOW_MAX_SIDE / max(h, w))
    fw, fh = max(8, int(round(w * s))), max(8, int(round(h * s)))
    small = [cv2.resize(g, (fw, fh), interpolation=cv2.INTER_AREA) if s < 1 else g for g in gray]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    dis.setFinestScale(1)  # the presets stop at 1/4 resolution, too coarse for objects a few pixels wide
    moving = np.zeros((t, fh, fw), bool)
    thr2 = (min_px * s) ** 2
    for i in range(t):
        for j in (i - 1, i + 1):
            if not 0 <= j < t:
                continue
            f = dis.calc(small[i], small[j], None)
            f -= np.median(f.reshape(-1, 2), axis=0)[None, None, :]
            moving[i] |= (f[..., 0] ** 2 + f[..., 1] ** 2) > thr2
    if s < 1:
        moving = np.stack([cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0 for m in moving])
    return moving


def motion_masks(rgb: np.ndarray, gray: np.ndarray, threshold: float, bg_frames: int, flow_min_px: float,
                 near_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(masks [T, h, w] bool, differences [T, h, w] uint8) of moving content (see the module docstring).

    threshold: minimum grey-level difference to the gain-compensated temporal-median background (the robust
    4-sigma noise level of the differences is used when larger); near_px: a background-different pixel is
    kept when a moving pixel lies within this distance; flow_min_px: flow length that counts as moving.
    """
    import cv2  # noqa: PLC0415

    t = len(rgb)
    sample = np.linspace(0, t - 1, min(t, bg_frames)).round().astype(int)
    bg = np.median(rgb[sample], axis=0).round().astype(np.uint8)
    diffs = gain_compensated_differences(rgb, bg)
    sub = diffs[sample[:: max(1, len(sample) // 10)]]
    med = float(np.median(sub))
    mad = float(np.median(np.abs(sub.astype(np.float32) - med)))
    thr = max(threshold, med + 4 * 1.4826 * mad)
    moving = flow_motion(gray, flow_min_px)
    kernel = np.ones((3, 3), np.uint8)
    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * near_px + 1, 2 * near_px + 1))
    masks = np.empty(diffs.shape, bool)
    for i in range(t):
        mv = cv2.morphologyEx(moving[i].astype(np.uint8), cv2.MORPH_OPEN, kernel)
        diff = cv2.morphologyEx((diffs[i] > thr).astype(np.uint8), cv2.MORPH_OPEN, kernel)
        masks[i] = (diff & cv2.dilate(mv, near)) > 0
    return masks, diffs
