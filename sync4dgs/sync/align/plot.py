"""The diagnostic figure of an alignment, drawn with OpenCV (no plotting dependency).

Left: every pair's combined score curve (lower = more consistent) over the candidate offsets, normalised to
[0, 1]; pairs kept by the global solution in colour, rejected ones grey; a dot marks each curve's minimum.
Right: top view of the 3D trajectories (projected on the plane orthogonal to the cameras' mean "up"
direction), with the camera centres as white triangles.
"""

from __future__ import annotations

import numpy as np

_W, _H = 1400, 640
_PAD = 50


def _palette(n: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    hues = (np.arange(max(n, 1)) * 180 / max(n, 1)).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 200), np.full_like(hues, 255)], -1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


def _text(img: np.ndarray, s: str, xy: tuple[int, int], scale: float = 0.5, color=(230, 230, 230)) -> None:
    import cv2  # noqa: PLC0415

    cv2.putText(img, s, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def _curves_panel(img: np.ndarray, pairs, x0: int, x1: int) -> None:
    import cv2  # noqa: PLC0415

    y0, y1 = _PAD, _H - _PAD
    cv2.rectangle(img, (x0, y0), (x1, y1), (90, 90, 90), 1)
    _text(img, "pair score curves (lower = consistent)", (x0, y0 - 15))
    curves = [p for p in pairs if np.isfinite(p.curve).any()]
    if not curves:
        _text(img, "no scored pairs", (x0 + 20, (y0 + y1) // 2))
        return
    lo = min(float(np.min(p.lags_s)) for p in curves)
    hi = max(float(np.max(p.lags_s)) for p in curves)
    hi = hi if hi > lo else lo + 1
    _text(img, f"{lo:+.2f} s", (x0, y1 + 20), 0.45)
    _text(img, f"{hi:+.2f} s", (x1 - 60, y1 + 20), 0.45)
    zero = int(x0 + (0 - lo) / (hi - lo) * (x1 - x0))
    cv2.line(img, (zero, y0), (zero, y1), (70, 70, 70), 1)
    pal = _palette(len(curves))
    for k, p in enumerate(curves):
        c = p.curve
        ok = np.isfinite(c)
        v = (c - np.nanmin(c)) / max(np.nanmax(c) - np.nanmin(c), 1e-12)
        xs = x0 + (p.lags_s - lo) / (hi - lo) * (x1 - x0)
        ys = y1 - 10 - v * (y1 - y0 - 20)
        color = tuple(int(x) for x in pal[k]) if p.inlier else (110, 110, 110)
        pts = np.stack([xs[ok], ys[ok]], -1).round().astype(np.int32)
        if len(pts) > 1:
            cv2.polylines(img, [pts], False, color, 1, cv2.LINE_AA)
        j = int(np.nanargmin(np.where(ok, c, np.inf)))
        cv2.circle(img, (int(round(xs[j])), int(round(ys[j]))), 3, color, -1)


def _trajectory_panel(img: np.ndarray, result, x0: int, x1: int) -> None:
    import cv2  # noqa: PLC0415

    y0, y1 = _PAD, _H - _PAD
    cv2.rectangle(img, (x0, y0), (x1, y1), (90, 90, 90), 1)
    traj = result.trajectories
    n = 0 if traj is None else traj.n
    _text(img, f"3D trajectories, top view ({n})", (x0, y0 - 15))
    pts_all = [] if traj is None else [traj.xyz.reshape(-1, 3)]
    centers, up = result.camera_centers, result.up
    if centers is not None:
        pts_all.append(np.asarray(centers))
    allp = np.concatenate([p[np.isfinite(p).all(-1)] for p in pts_all]) if pts_all else np.zeros((0, 3))
    if len(allp) == 0:
        _text(img, "no trajectories", (x0 + 20, (y0 + y1) // 2))
        return
    up = np.asarray(up if up is not None else [0.0, 0.0, 1.0], float)
    up /= np.linalg.norm(up)
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    uv = np.stack([allp @ e1, allp @ e2], -1)
    lo, hi = np.percentile(uv, 0.5, axis=0), np.percentile(uv, 99.5, axis=0)   # a few stray points don't squash it
    if centers is not None:
        cuv = np.stack([np.asarray(centers) @ e1, np.asarray(centers) @ e2], -1)
        lo, hi = np.minimum(lo, cuv.min(0)), np.maximum(hi, cuv.max(0))
    scale = min((x1 - x0 - 40) / max(hi[0] - lo[0], 1e-9), (y1 - y0 - 40) / max(hi[1] - lo[1], 1e-9))

    def to_px(p: np.ndarray) -> np.ndarray:
        q = np.stack([p @ e1, p @ e2], -1)
        return np.stack([x0 + 20 + (q[:, 0] - lo[0]) * scale, y1 - 20 - (q[:, 1] - lo[1]) * scale], -1)

    img_view = img[y0 + 1:y1, x0 + 1:x1]   # draw clipped to the panel
    off = np.array([x0 + 1, y0 + 1])
    if traj is not None:
        for m in range(traj.n):
            ok = np.isfinite(traj.xyz[m]).all(-1)
            if ok.sum() < 2:
                continue
            pts = (to_px(traj.xyz[m][ok].astype(np.float64)) - off).round().astype(np.int32)
            cv2.polylines(img_view, [pts], False, tuple(int(c) for c in traj.rgb[m]), 1, cv2.LINE_AA)
    if centers is not None:
        for p in to_px(np.asarray(centers)).round().astype(int):
            tri = np.array([[p[0], p[1] - 6], [p[0] - 5, p[1] + 4], [p[0] + 5, p[1] + 4]], np.int32)
            cv2.fillPoly(img, [tri], (255, 255, 255))


def draw_alignment_plot(result) -> np.ndarray:
    """RGB uint8 [H, W, 3] figure of an AlignResult (see module docstring)."""
    img = np.full((_H, _W, 3), 25, np.uint8)
    mid = _W // 2
    _curves_panel(img, result.pairs, _PAD, mid - _PAD // 2)
    _trajectory_panel(img, result, mid + _PAD // 2, _W - _PAD)
    aligned = sum(m.status in ("aligned", "reference") for m in result.time_maps.cameras.values())
    _text(img, f"sync4dgs align: {aligned}/{len(result.time_maps.cameras)} cameras aligned", (_PAD, _H - 12), 0.5)
    return img
