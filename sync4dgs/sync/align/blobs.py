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


def link_blobs(per_frame: list[np.ndarray], max_jump_px: float) -> np.ndarray:
    """Link per-frame centroids into tracks by mutual nearest neighbours within ``max_jump_px``.

    Returns xy [M, T, 2] float32 (NaN = not visible); a track ends at the first frame without a mutual match.
    """
    t_count = len(per_frame)
    rows: list[np.ndarray] = []
    active: list[int] = []            # track ids alive after the previous frame
    for i, pts in enumerate(per_frame):
        matched_pts: set[int] = set()
        still: list[int] = []
        if active and len(pts):
            prev = np.stack([rows[a][i - 1] for a in active])
            d = np.linalg.norm(prev[:, None, :] - pts[None, :, :], axis=-1)
            best_pt, best_tr = d.argmin(1), d.argmin(0)
            for a_idx, a in enumerate(active):
                j = int(best_pt[a_idx])
                if best_tr[j] == a_idx and d[a_idx, j] <= max_jump_px:
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
