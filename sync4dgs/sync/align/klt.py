"""Moving-point tracks of one static camera: temporal-median background, foreground masks, pyramidal KLT.

Frames are read through :func:`sync4dgs.data.frames.open_frames` and tracked at reduced resolution
(longer side <= ``AlignConfig.track_max_side``). Seeds (Shi-Tomasi corners) are restricted to the
foreground (a few pixels inside it) and re-seeded as tracks die; each KLT step is checked forward-backward.
A track ends when KLT loses it, when the check fails, after a frame off the foreground, or when its patch no
longer correlates with the patch it was seeded on (which bounds drift). Output coordinates are
full-resolution pixels in the scene convention (pixel j spans [j, j+1)); OpenCV's are pixel-centre based,
hence the +0.5 on conversion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sync4dgs.data.frames import open_frames
from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.pencil import PackedMasks
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

_OFF_FG_FRAMES = 1  # a track ends after this many consecutive frames off the foreground
_SEED_MARGIN_PX = 3  # seeds keep this far inside the foreground (windows straddling a silhouette slide)
_PATCH = 9           # side of the appearance template compared with each track's seed patch (pixels)


@dataclass
class SmallFrames:
    """A camera's frames at tracking resolution: rgb [T, h, w, 3] uint8, gray [T, h, w] uint8, scale (sx, sy)."""

    rgb: np.ndarray
    gray: np.ndarray
    sx: float
    sy: float


def load_small_frames(scene: SceneSpec, cam: CameraSpec, max_side: int) -> SmallFrames:
    """Read every frame of ``cam`` downscaled (area) so that the longer side is <= ``max_side``."""
    import cv2  # noqa: PLC0415

    frames = open_frames(scene, cam)
    s = min(1.0, max_side / max(cam.width, cam.height))
    w, h = max(8, int(round(cam.width * s))), max(8, int(round(cam.height * s)))
    rgb = np.empty((len(frames), h, w, 3), np.uint8)
    for i in range(len(frames)):
        img = frames[i]
        same = (w, h) == (img.shape[1], img.shape[0])
        rgb[i] = img if same else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])
    return SmallFrames(rgb, gray, w / cam.width, h / cam.height)


def foreground_masks(rgb: np.ndarray, threshold: float, bg_frames: int) -> np.ndarray:
    """Moving-pixel masks [T, h, w] bool from a per-pixel temporal median background (see
    :func:`foreground_masks_and_differences`)."""
    return foreground_masks_and_differences(rgb, threshold, bg_frames)[0]


def foreground_masks_and_differences(rgb: np.ndarray, threshold: float,
                                     bg_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(masks [T, h, w] bool, differences [T, h, w] uint8): moving pixels against a per-pixel temporal median
    background, and each pixel's largest channel difference to that background.

    A pixel is foreground when its largest channel difference to the background exceeds
    max(threshold, 4 robust sigmas of the frame-to-background difference); isolated pixels are removed by a
    3x3 opening (silhouettes are not inflated: their boundaries matter for the epipolar-pencil score).
    """
    import cv2  # noqa: PLC0415

    t = len(rgb)
    sample = np.linspace(0, t - 1, min(t, bg_frames)).round().astype(int)
    bg = np.median(rgb[sample], axis=0).round().astype(np.uint8)
    diffs = np.empty(rgb.shape[:3], np.uint8)
    for i in range(t):
        d = cv2.absdiff(rgb[i], bg)
        diffs[i] = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])
    sub = diffs[sample[:: max(1, len(sample) // 10)]]
    med = float(np.median(sub))
    mad = float(np.median(np.abs(sub.astype(np.float32) - med)))
    thr = max(threshold, med + 4 * 1.4826 * mad)
    kernel = np.ones((3, 3), np.uint8)
    masks = np.empty(diffs.shape, bool)
    for i in range(t):
        masks[i] = cv2.morphologyEx((diffs[i] > thr).astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    return masks, diffs


def _patches(gray: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Zero-mean unit-norm patches [K, _PATCH^2] around sub-pixel points ``pts`` [K, 2] (bilinear)."""
    import cv2  # noqa: PLC0415

    r = (_PATCH - 1) / 2
    off = np.stack(np.meshgrid(np.arange(_PATCH) - r, np.arange(_PATCH) - r), -1).reshape(-1, 2).astype(np.float32)
    grid = pts[:, None, :].astype(np.float32) + off[None]
    vals = cv2.remap(gray, np.ascontiguousarray(grid[..., 0]), np.ascontiguousarray(grid[..., 1]), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    vals -= vals.mean(1, keepdims=True)
    return vals / (np.linalg.norm(vals, axis=1, keepdims=True) + 1e-6)


def track_frames(small: SmallFrames, masks: np.ndarray, cfg: AlignConfig) -> tuple[np.ndarray, np.ndarray]:
    """KLT over a whole video at tracking resolution.

    Returns (xy [M, T, 2] float32 OpenCV pixel coords at tracking resolution, NaN = invisible,
    rgb [M, 3] uint8 seed colours). A track also ends when its patch no longer correlates
    (NCC < ``cfg.template_ncc``) with the patch it was seeded on, which bounds KLT drift.
    """
    import cv2  # noqa: PLC0415

    gray = small.gray
    t_count, h, w = gray.shape
    lk = dict(winSize=(cfg.klt_win, cfg.klt_win), maxLevel=cfg.klt_levels,
              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    rows: list[np.ndarray] = []       # per track: [T, 2]
    colors: list[np.ndarray] = []
    active = np.zeros(0, np.int64)    # track ids
    pts = np.zeros((0, 2), np.float32)
    off_fg = np.zeros(0, np.int64)
    templates = np.zeros((0, _PATCH * _PATCH), np.float32)
    for i in range(t_count):
        if i > 0 and len(active):
            p1, st, _ = cv2.calcOpticalFlowPyrLK(gray[i - 1], gray[i], pts.reshape(-1, 1, 2), None, **lk)
            p0r, st2, _ = cv2.calcOpticalFlowPyrLK(gray[i], gray[i - 1], p1, None, **lk)
            p1 = p1.reshape(-1, 2)
            fb = np.linalg.norm(p0r.reshape(-1, 2) - pts, axis=1)
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < cfg.fb_max_err_px)
            ok &= (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
            xi = np.clip(np.round(p1[:, 0]).astype(int), 0, w - 1)
            yi = np.clip(np.round(p1[:, 1]).astype(int), 0, h - 1)
            off_fg = np.where(masks[i, yi, xi], 0, off_fg + 1)
            ok &= off_fg <= _OFF_FG_FRAMES
            ok &= (_patches(gray[i], p1) * templates).sum(1) >= cfg.template_ncc
            for k in np.nonzero(ok)[0]:
                rows[active[k]][i] = p1[k]
            active, pts, off_fg, templates = active[ok], p1[ok].astype(np.float32), off_fg[ok], templates[ok]
        if i % cfg.reseed_every_frames == 0 and len(active) < cfg.max_tracks:
            seed_mask = cv2.erode(masks[i].astype(np.uint8) * 255, np.ones((2 * _SEED_MARGIN_PX + 1,) * 2, np.uint8))
            for x, y in pts:
                cv2.circle(seed_mask, (int(round(x)), int(round(y))), cfg.feature_min_distance_px, 0, -1)
            new = cv2.goodFeaturesToTrack(gray[i], maxCorners=cfg.max_tracks - len(active), qualityLevel=0.01,
                                          minDistance=cfg.feature_min_distance_px, mask=seed_mask, blockSize=5)
            if new is not None:
                new = new.reshape(-1, 2).astype(np.float32)
                cv2.cornerSubPix(gray[i], new, (3, 3), (-1, -1),
                                 (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01))
                ids = np.arange(len(rows), len(rows) + len(new))
                for p in new:
                    r = np.full((t_count, 2), np.nan, np.float32)
                    r[i] = p
                    rows.append(r)
                    xi, yi = int(np.clip(round(p[0]), 0, w - 1)), int(np.clip(round(p[1]), 0, h - 1))
                    colors.append(small.rgb[i, yi, xi])
                active = np.concatenate([active, ids])
                pts = np.concatenate([pts, new])
                off_fg = np.concatenate([off_fg, np.zeros(len(new), np.int64)])
                templates = np.concatenate([templates, _patches(gray[i], new)])
    xy = np.stack(rows) if rows else np.zeros((0, t_count, 2), np.float32)
    rgb = np.stack(colors).astype(np.uint8) if colors else np.zeros((0, 3), np.uint8)
    return xy, rgb


def track_colors(small: SmallFrames, xy_small: np.ndarray) -> np.ndarray:
    """Colour [M, 3] uint8 of each track at its first visible frame (OpenCV coords at tracking resolution)."""
    t_count, h, w = small.gray.shape
    valid = np.isfinite(xy_small).all(-1)
    rgb = np.zeros((xy_small.shape[0], 3), np.uint8)
    first = np.where(valid.any(1), valid.argmax(1), -1)
    for k in np.nonzero(first >= 0)[0]:
        x, y = xy_small[k, first[k]]
        rgb[k] = small.rgb[first[k], int(np.clip(round(y), 0, h - 1)), int(np.clip(round(x), 0, w - 1))]
    return rgb


def to_full_res(xy_small: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """OpenCV coords at tracking resolution -> scene-convention full-resolution pixels (same shape)."""
    out = np.empty_like(xy_small, dtype=np.float32)
    out[..., 0] = (xy_small[..., 0] + 0.5) / sx
    out[..., 1] = (xy_small[..., 1] + 0.5) / sy
    return out


def to_small_res(xy_full: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Inverse of :func:`to_full_res`."""
    out = np.empty_like(xy_full, dtype=np.float32)
    out[..., 0] = xy_full[..., 0] * sx - 0.5
    out[..., 1] = xy_full[..., 1] * sy - 0.5
    return out


def observe_camera(scene: SceneSpec, cam: CameraSpec, cfg: AlignConfig,
                   external: CameraTracks | None = None) -> tuple[CameraTracks, PackedMasks]:
    """Moving-point tracks (own KLT, or ``external`` tracks with colours sampled here) and foreground masks
    of one camera."""
    small = load_small_frames(scene, cam, cfg.track_max_side)
    scale = 0.5 * (small.sx + small.sy)
    if cfg.fg_mode == "motion":
        from sync4dgs.sync.align.motion import motion_masks  # noqa: PLC0415

        masks, diffs = motion_masks(small.rgb, small.gray, cfg.fg_threshold, cfg.bg_frames, cfg.flow_min_px,
                                    cfg.flow_near_px)
    else:
        masks, diffs = foreground_masks_and_differences(small.rgb, cfg.fg_threshold, cfg.bg_frames)
    packed = PackedMasks.pack(masks, small.sx, small.sy)
    if external is not None:
        rgb = track_colors(small, to_small_res(external.xy, small.sx, small.sy))
        out = CameraTracks(cam.name, external.xy, cam.tau_s(), scale, external.depth, rgb)
    else:
        xy, rgb = track_frames(small, masks, cfg)
        out = CameraTracks(cam.name, to_full_res(xy, small.sx, small.sy), cam.tau_s(), scale, None, rgb)
    n_all = out.n_tracks
    out = out.filter_moving(cfg.min_track_frames, cfg.min_track_motion_px)
    log.info("camera %s: %d moving tracks (of %d), foreground in %.0f%% of frames", cam.name, out.n_tracks, n_all,
             100 * masks.reshape(len(masks), -1).any(1).mean())
    if external is None and out.n_tracks < cfg.blob_tracks_below:
        out = _with_blob_tracks(out, small, masks, diffs, cam, cfg)
    return out, packed


def _with_blob_tracks(out: CameraTracks, small: SmallFrames, masks: np.ndarray, diffs: np.ndarray,
                      cam: CameraSpec, cfg: AlignConfig) -> CameraTracks:
    """``out`` plus the moving blob-centroid tracks of this camera (sync4dgs/sync/align/blobs.py)."""
    from sync4dgs.sync.align.blobs import frame_blobs, link_blobs  # noqa: PLC0415

    h, w = masks.shape[1:]
    max_area = int(cfg.blob_max_area_fraction * h * w)
    per_frame = [frame_blobs(m, d, cfg.blob_min_area_px, max_area) for m, d in zip(masks, diffs)]
    xy = link_blobs(per_frame, cfg.blob_max_jump_px, cfg.blob_max_speed_frac * max(h, w))
    blobs = CameraTracks(cam.name, to_full_res(xy, small.sx, small.sy), cam.tau_s(), out.track_scale, None,
                         track_colors(small, xy)).filter_moving(cfg.min_track_frames, cfg.min_track_motion_px)
    log.info("camera %s: %d KLT tracks are few; added %d moving blob-centroid tracks", cam.name, out.n_tracks,
             blobs.n_tracks)
    rgb = None if out.rgb is None or blobs.rgb is None else np.concatenate([out.rgb, blobs.rgb])
    return CameraTracks(cam.name, np.concatenate([out.xy, blobs.xy]), out.tau_s, out.track_scale, None, rgb,
                        with_blobs=True)
