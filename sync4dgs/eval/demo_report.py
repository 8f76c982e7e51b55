"""Tables and the offsets plot of ``sync4dgs demo`` (pure formatting + OpenCV drawing; no training here).

Offsets are shown in the gauge of the ground truth (its reference camera at 0), in frames of each camera's own
fps and in milliseconds. ``None`` entries (a stage that did not run, or a camera it did not estimate) print "-".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.timemap import TimeMaps, rereference
from sync4dgs.utils.atomic import atomic_path

OFFSET_COLUMNS = ("camera", "fps", "truth[fr]", "truth[ms]", "stage1[fr]", "stage1[ms]", "stage2[fr]", "stage2[ms]")
QUALITY_COLUMNS = ("run", "time maps", "PSNR[dB]", "SSIM", "FLIP", "images")
REGION_COLUMNS = ("run", "region", "PSNR[dB]", "SSIM", "coverage[%]", "frames")


@dataclass
class OffsetRow:
    """One camera: offsets in seconds (None = not available), in the truth's gauge."""

    camera: str
    fps: float
    truth_s: float | None
    stage1_s: float | None
    stage2_s: float | None


def offset_rows(names: list[str], fps: dict[str, float], truth: TimeMaps | None, stage1: TimeMaps | None,
                stage2: TimeMaps | None) -> list[OffsetRow]:
    """Per-camera offsets of the three sources, all re-gauged to the truth's reference (or stage 2's if no truth)."""
    ref = truth.reference_camera if truth is not None else (stage2.reference_camera if stage2 is not None else None)

    def get(maps: TimeMaps | None, name: str) -> float | None:
        if maps is None or ref is None or ref not in maps.cameras or name not in maps.cameras:
            return None
        return float(rereference(maps, ref).cameras[name].offset_s)

    return [OffsetRow(n, float(fps[n]), get(truth, n), get(stage1, n), get(stage2, n)) for n in names]


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or not np.isfinite(x) else format(x, spec)


def format_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    """Plain-text table with right-aligned columns and a rule under the header."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(columns), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def format_offset_table(rows: list[OffsetRow]) -> str:
    """The per-camera offset table (columns :data:`OFFSET_COLUMNS`)."""
    body = []
    for r in rows:
        cells = [r.camera, _fmt(r.fps, ".3g")]
        for v in (r.truth_s, r.stage1_s, r.stage2_s):
            cells += [_fmt(None if v is None else v * r.fps, "+.2f"), _fmt(None if v is None else 1000 * v, "+.1f")]
        body.append(cells)
    return format_table(OFFSET_COLUMNS, body)


def format_quality_table(runs: list[dict]) -> str:
    """runs: [{"run", "time_maps", "psnr", "ssim", "flip", "n_images"}] -> table (columns :data:`QUALITY_COLUMNS`)."""
    body = [[r["run"], r["time_maps"], _fmt(r.get("psnr"), ".2f"), _fmt(r.get("ssim"), ".4f"),
             _fmt(r.get("flip"), ".4f"), str(r.get("n_images", "-"))] for r in runs]
    return format_table(QUALITY_COLUMNS, body)


def format_region_table(runs: list[dict]) -> str:
    """runs: [{"run", "regions": {region: {"psnr", "ssim", "coverage", "n_images", "n_empty"}}}] (a split's
    results.json "regions") -> table (columns :data:`REGION_COLUMNS`), one row per run and region; "frames" is
    frames used / frames (the others had no pixel in the region)."""
    body = []
    for r in runs:
        for name, v in (r.get("regions") or {}).items():
            used = v.get("n_images", 0)
            body.append([r["run"], name, _fmt(v.get("psnr"), ".2f"), _fmt(v.get("ssim"), ".4f"),
                         _fmt(100.0 * v["coverage"], ".1f"), f"{used}/{used + v.get('n_empty', 0)}"])
    return format_table(REGION_COLUMNS, body)


# ---------------------------------------------------------------------------------------------------------------
_COLORS_BGR = {"truth": (40, 40, 40), "stage1": (40, 120, 230), "stage2": (200, 90, 20)}
_MARKERS = {"truth": None, "stage1": "MARKER_TILTED_CROSS", "stage2": "MARKER_SQUARE"}   # None = circle
_SHIFT = {"truth": 0, "stage1": -8, "stage2": 8}


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick values (steps of 1, 2 or 5 x 10^k) inside [lo, hi], about ``target`` of them."""
    raw = (hi - lo) / max(target, 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return np.arange(np.ceil(lo / step), np.floor(hi / step) + 1) * step


def _draw_mark(cv2, img: np.ndarray, key: str, x: int, y: int) -> None:
    if _MARKERS[key] is None:
        cv2.circle(img, (x, y), 7, _COLORS_BGR[key], 2, cv2.LINE_AA)
    else:
        cv2.drawMarker(img, (x, y), _COLORS_BGR[key], getattr(cv2, _MARKERS[key]), 12, 2)


def _panel(cv2, img: np.ndarray, box: tuple[int, int, int, int], rows: list[OffsetRow],
           series: dict[str, list[float | None]], ylabel: str, labels: bool) -> None:
    """One scatter panel in pixel box (x0, y0, x1, y1): a column per camera, one marker per series."""
    x0, y0, x1, y1 = box
    font = cv2.FONT_HERSHEY_SIMPLEX
    vals = [v for vs in series.values() for v in vs if v is not None]
    lo, hi = (min(vals), max(vals)) if vals else (-1.0, 1.0)
    pad = max(0.1 * (hi - lo), 0.5 if "frames" in ylabel else 5.0)
    lo, hi = min(lo - pad, -pad), max(hi + pad, pad)
    n = max(len(rows), 1)

    def px(i: int) -> int:
        return int(x0 + (i + 0.5) * (x1 - x0) / n)

    def py(v: float) -> int:
        return int(y0 + (hi - v) / (hi - lo) * (y1 - y0))

    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    for tick in nice_ticks(lo, hi):
        y = py(tick)
        cv2.line(img, (x0 - 4, y), (x1, y), (225, 225, 225), 1)
        cv2.putText(img, f"{tick:g}", (8, y + 4), font, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (x0, py(0.0)), (x1, py(0.0)), (150, 150, 150), 1)
    cv2.putText(img, ylabel, (8, y0 - 8), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, r in enumerate(rows):
        if labels:
            cv2.putText(img, r.camera, (px(i) - 20, y1 + 20), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for key, vs in series.items():
            if vs[i] is not None:
                _draw_mark(cv2, img, key, px(i) + _SHIFT[key], py(vs[i]))


def plot_offsets(rows: list[OffsetRow], path: str | Path, title: str = "camera time offsets",
                 size: tuple[int, int] = (900, 640)) -> Path:
    """Two panels per camera: offsets in ms (truth circles, stage-1 crosses, stage-2 squares) and the
    estimates' errors (estimate - truth) in frames of each camera's fps. PNG drawn with OpenCV.

    matplotlib is not a dependency of sync4dgs (and is absent on the target machines), so this uses cv2 only.
    """
    import cv2  # noqa: PLC0415

    W, H = size
    img = np.full((H, W, 3), 255, np.uint8)
    left, right = 80, 150
    split = int(0.55 * H)
    offsets = {"truth": [None if r.truth_s is None else 1000 * r.truth_s for r in rows],
               "stage1": [None if r.stage1_s is None else 1000 * r.stage1_s for r in rows],
               "stage2": [None if r.stage2_s is None else 1000 * r.stage2_s for r in rows]}

    def err(v: float | None, r: OffsetRow) -> float | None:
        return None if v is None or r.truth_s is None else (v - r.truth_s) * r.fps

    errors = {"stage1": [err(r.stage1_s, r) for r in rows], "stage2": [err(r.stage2_s, r) for r in rows]}
    cv2.putText(img, title, (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    _panel(cv2, img, (left, 55, W - right, split - 30), rows, offsets, "offset [ms]", labels=True)
    _panel(cv2, img, (left, split + 25, W - right, H - 40), rows, errors, "estimate - truth [frames]", labels=True)
    lx, ly = W - right + 15, 65
    for k, (key, label) in enumerate((("truth", "truth"), ("stage1", "stage 1"), ("stage2", "stage 2"))):
        _draw_mark(cv2, img, key, lx, ly + 25 * k)
        cv2.putText(img, label, (lx + 15, ly + 25 * k + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    path = Path(path)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise OSError(f"could not encode the offsets plot for {path}")
        tmp.write_bytes(buf.tobytes())
    return path
