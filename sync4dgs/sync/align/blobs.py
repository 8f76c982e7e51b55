"""Blob-centroid tracks: a fallback cue for moving content with too few corners for KLT (soft, untextured objects).

Each frame's foreground mask is split into connected components; compact ones (area between ``min_area_px`` and
``max_area_fraction`` of the image) give one point each, their foreground-weighted centroid (weights: the pixel's
difference to the temporal-median background, so a soft blob's centroid is its centre). Centroids are linked
frame to frame by mutual nearest neighbours within ``max_jump_px``. For a compact object the centroid is close to
the projection of one 3D point (its centre) in every view, so these tracks feed the same epipolar matching and
triangulation as KLT tracks. Pure numpy/OpenCV on tracking-resolution arrays.
"""

from __future__ import annotations

import numpy as np


def frame_blobs(mask: np.ndarray, weight: np.ndarray, min_area_px: int, max_area_px: int) -> np.ndarray:
    """[B, 2] weighted centroids (OpenCV pixel coords) of the compact connected components of ``mask`` [h, w]
    bool; ``weight`` [h, w] non-negative (e.g. the difference to the background)."""
    import cv2  # noqa: PLC0415

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for k in range(1, n):
        area = stats[k, cv2.CC_STAT_AREA]
        if not min_area_px <= area <= max_area_px:
            continue
        x0, y0 = stats[k, cv2.CC_STAT_LEFT], stats[k, cv2.CC_STAT_TOP]
        w, h = stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]
        sel = labels[y0:y0 + h, x0:x0 + w] == k
        wts = np.where(sel, weight[y0:y0 + h, x0:x0 + w].astype(np.float64), 0.0)
        total = wts.sum()
        if total <= 0:
            continue
        ys, xs = np.mgrid[y0:y0 + h, x0:x0 + w]
        out.append(((wts * xs).sum() / total, (wts * ys).sum() / total))
    return np.asarray(out, np.float32).reshape(-1, 2)


def link_blobs(per_frame: list[np.ndarray], max_jump_px: float, max_speed_px: float | None = None) -> np.ndarray:
    """Link per-frame centroids into tracks by mutual nearest neighbours to each track's predicted position.

    A track seen in the two previous frames predicts its next position at constant velocity and links the blob
    nearest that prediction within ``max_jump_px``. A track seen in one frame only (last position p, no velocity
    yet) prefers a blob q within ``max_speed_px`` (default ``max_jump_px``) whose constant-velocity
    continuation 2q - p finds a blob of the frame after within ``max_jump_px`` (three consistent positions),
    else takes a blob within ``max_jump_px`` of p. So a small fast object (20 px per frame) is followed from
    its first frames, past a slow spurious blob next to it, and a blob that jumps once does not start a fast
    track. Distances are compared relative to ``max_jump_px``.

    Returns xy [M, T, 2] float32 (NaN = not visible); a track ends at the first frame without a mutual match.
    """
    speed = max_jump_px if max_speed_px is None else max(max_speed_px, max_jump_px)
    t_count = len(per_frame)
    rows: list[np.ndarray] = []
    active: list[int] = []            # track ids alive after the previous frame
    for i, pts in enumerate(per_frame):
        matched_pts: set[int] = set()
        still: list[int] = []
        if active and len(pts):
            last = np.stack([rows[a][i - 1] for a in active])
            before = np.stack([rows[a][i - 2] if i >= 2 else np.full(2, np.nan, np.float32) for a in active])
            moving = np.isfinite(before).all(1)
            pred = np.where(moving[:, None], 2 * last - np.nan_to_num(before), last)
            rel = np.linalg.norm(pred[:, None, :] - pts[None, :, :], axis=-1) / max_jump_px   # [A, P]
            rel[(rel > 1.0) & moving[:, None]] = np.inf
            if (~moving).any():
                # a new track: a continuation seen in three frames (rel <= 1) before a plain near blob (1 < rel <= 2)
                jump = rel[~moving]                                                            # [A0, P]
                nxt = per_frame[i + 1] if i + 1 < t_count else np.zeros((0, 2), np.float32)
                if len(nxt):
                    cont = 2 * pts[None, :, :] - last[~moving][:, None, :]                     # [A0, P, 2]
                    miss = np.linalg.norm(cont[:, :, None, :] - nxt[None, None, :, :], axis=-1).min(-1) / max_jump_px
                else:
                    miss = np.full(jump.shape, np.inf)
                rel[~moving] = np.where((miss <= 1.0) & (jump * max_jump_px <= speed), miss,
                                        np.where(jump <= 1.0, 1.0 + jump, np.inf))
            best_pt, best_tr = rel.argmin(1), rel.argmin(0)
            for a_idx, a in enumerate(active):
                j = int(best_pt[a_idx])
                if best_tr[j] == a_idx and np.isfinite(rel[a_idx, j]):
                    rows[a][i] = pts[j]
                    matched_pts.add(j)
                    still.append(a)
        for j in range(len(pts)):
            if j not in matched_pts:
                r = np.full((t_count, 2), np.nan, np.float32)
                r[i] = pts[j]
                rows.append(r)
                still.append(len(rows) - 1)
        active = still
    return np.stack(rows) if rows else np.zeros((0, t_count, 2), np.float32)
