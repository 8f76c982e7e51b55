"""Montage PNGs for looking at test renders: a row per frame, a column per image kind (PIL + numpy only).

* :func:`write_split_montage` -> ``M/test/ours_N/montage.png``: ground truth | render | |difference| for a few
  evenly spaced frames of the split, with the moving-region outline (sync4dgs/eval/motion_regions.py) drawn on
  the ground truth.
* :func:`write_comparison_montage` -> e.g. the demo's ``OUT/montage.png``: ground truth | run 1 | run 2 ...

Layout (pixels): a ``GAP`` margin around and between tiles, a header strip of ``HEADER_H`` with the column
labels, and above each row a ``ROW_LABEL_H`` strip naming the frame (``<camera> frame <index>``). Tiles are the
images upscaled by an integer factor (nearest neighbour) to at least ``MIN_TILE_W`` px wide, or downscaled
(area) to at most ``MAX_TILE_W``; :func:`tile_size` and :func:`montage_size` give the numbers.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sync4dgs.data.frames import read_image as read_png   # = sync4dgs.eval.render_views.read_png (RGB uint8)
from sync4dgs.eval import layout
from sync4dgs.eval.motion_regions import RegionMasks
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)
MONTAGE_FILE = "montage.png"
GAP, HEADER_H, ROW_LABEL_H = 4, 18, 16
MIN_TILE_W, MAX_TILE_W = 192, 480
DIFF_GAIN = 4.0
OUTLINE_RGB = (255, 0, 255)
BACKGROUND_RGB = (255, 255, 255)


def evenly_spaced(n_items: int, k: int) -> list[int]:
    """``min(k, n_items)`` distinct indices evenly spaced over ``range(n_items)``, first and last included."""
    if n_items <= 0 or k <= 0:
        return []
    return sorted(set(np.linspace(0, n_items - 1, min(k, n_items)).round().astype(int).tolist()))


def tile_size(width: int, height: int) -> tuple[int, int]:
    """(tile width, tile height) in pixels of a ``width`` x ``height`` image in the montage."""
    if width < MIN_TILE_W:
        s = math.ceil(MIN_TILE_W / width)
        return width * s, height * s
    if width > MAX_TILE_W:
        return MAX_TILE_W, max(1, round(height * MAX_TILE_W / width))
    return width, height


def montage_size(n_rows: int, n_cols: int, width: int, height: int) -> tuple[int, int]:
    """(montage width, height) in pixels for ``n_rows`` x ``n_cols`` images of ``width`` x ``height``."""
    tw, th = tile_size(width, height)
    return GAP + n_cols * (tw + GAP), GAP + HEADER_H + n_rows * (ROW_LABEL_H + th + GAP)


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, C] or bool [H, W] -> size (w, h): integer upscales by pixel repetition, else area."""
    h, w = img.shape[:2]
    if size == (w, h):
        return img
    if size[0] % w == 0 and size[1] % h == 0 and size[0] // w == size[1] // h:
        s = size[0] // w
        return np.repeat(np.repeat(img, s, axis=0), s, axis=1)
    if img.dtype == bool:
        return np.asarray(Image.fromarray(img.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127
    return np.asarray(Image.fromarray(img).resize(size, Image.BOX))


def outline(mask: np.ndarray) -> np.ndarray:
    """bool [H, W] -> bool [H, W]: the mask's pixels with a 4-neighbour outside it (1 px inner boundary)."""
    m = np.pad(mask, 1, constant_values=False)
    interior = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~interior


def diff_image(render: np.ndarray, gt: np.ndarray, gain: float = DIFF_GAIN) -> np.ndarray:
    """Grey uint8 [H, W, 3]: ``gain`` x the largest per-channel |render - gt| of each pixel (clipped to 255)."""
    d = np.abs(render.astype(np.int16) - gt.astype(np.int16)).max(axis=-1).astype(np.float32) * gain
    g = np.clip(d + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def with_outline(img: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """``img`` resized to the tile ``size`` with the outline of ``mask`` (resized the same way) drawn on it."""
    tile = _resize(img, size).copy()
    if mask is not None and mask.any():
        tile[outline(_resize(mask, size))] = OUTLINE_RGB
    return tile


def compose(rows: list[list[np.ndarray]], col_labels: list[str], row_labels: list[str]) -> np.ndarray:
    """uint8 [H, W, 3] montage of equally sized tiles ``rows[r][c]`` uint8 [th, tw, 3] with labels."""
    if not rows or not rows[0]:
        raise ValueError("a montage needs at least one row and one column")
    th, tw = rows[0][0].shape[:2]
    n_cols = len(rows[0])
    W, H = GAP + n_cols * (tw + GAP), GAP + HEADER_H + len(rows) * (ROW_LABEL_H + th + GAP)
    canvas = Image.new("RGB", (W, H), BACKGROUND_RGB)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for c, text in enumerate(col_labels):
        draw.text((GAP + c * (tw + GAP) + 2, GAP + 2), text, fill=(0, 0, 0), font=font)
    y = GAP + HEADER_H
    for r, row in enumerate(rows):
        if len(row) != n_cols or any(t.shape[:2] != (th, tw) for t in row):
            raise ValueError(f"row {r}: expected {n_cols} tiles of {tw}x{th}")
        draw.text((GAP + 2, y + 1), row_labels[r], fill=(60, 60, 60), font=font)
        y += ROW_LABEL_H
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(np.ascontiguousarray(tile)), (GAP + c * (tw + GAP), y))
        y += th + GAP
    return np.asarray(canvas)


def _write_png(path: Path, img: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return path


def _row_label(name: str) -> str:
    cam, idx = layout.parse_image_name(name)
    return f"{cam} frame {idx}"


def _moving(regions: RegionMasks | None, name: str, gt: np.ndarray) -> np.ndarray | None:
    if regions is None:
        return None
    cam, idx = layout.parse_image_name(name)
    return regions.masks(cam, idx, gt).get("moving")


def write_split_montage(split_folder: str | Path, regions: RegionMasks | None = None,
                        n_frames: int = 4, diff_gain: float = DIFF_GAIN) -> Path | None:
    """``<split_folder>/montage.png``: rows of ground truth | render | |difference| x ``diff_gain`` for
    ``n_frames`` evenly spaced images (sorted by name) of the split; the moving-region outline (magenta) on the
    ground truth when ``regions`` is given. Returns the path, or None when the split has no gt/ or renders."""
    folder = Path(split_folder)
    rdir, gdir = folder / "renders", folder / "gt"
    names = sorted(p.name for p in rdir.glob("*.png") if (gdir / p.name).is_file()) if gdir.is_dir() else []
    if not names:
        log.info("no render/ground-truth pairs in %s: no montage", folder)
        return None
    rows, labels = [], []
    for k in evenly_spaced(len(names), n_frames):
        name = names[k]
        r, g = read_png(rdir / name), read_png(gdir / name)
        size = tile_size(g.shape[1], g.shape[0])
        rows.append([with_outline(g, _moving(regions, name, g), size), _resize(r, size),
                     _resize(diff_image(r, g, diff_gain), size)])
        labels.append(_row_label(name))
    cols = ["ground truth" + (" (moving outline)" if regions is not None else ""), "render",
            f"|difference| x{diff_gain:g}"]
    return _write_png(folder / MONTAGE_FILE, compose(rows, cols, labels))


def write_comparison_montage(path: str | Path, gt_dir: str | Path, columns: dict[str, str | Path],
                             n_frames: int = 4, regions: RegionMasks | None = None) -> Path | None:
    """Montage ``path``: rows of ground truth | each of ``columns`` ({label: renders folder}) for ``n_frames``
    evenly spaced image names that the ground truth and every column have. None when there is no such name."""
    gt_dir = Path(gt_dir)
    dirs = {k: Path(v) for k, v in columns.items()}
    names = sorted(p.name for p in gt_dir.glob("*.png") if all((d / p.name).is_file() for d in dirs.values()))
    if not names:
        log.info("no image common to %s and %s: no montage", gt_dir, list(dirs.values()))
        return None
    rows, labels = [], []
    for k in evenly_spaced(len(names), n_frames):
        name = names[k]
        g = read_png(gt_dir / name)
        size = tile_size(g.shape[1], g.shape[0])
        rows.append([with_outline(g, _moving(regions, name, g), size)]
                    + [_resize(read_png(d / name), size) for d in dirs.values()])
        labels.append(_row_label(name))
    gt_label = "ground truth" + (" (moving outline)" if regions is not None else "")
    return _write_png(Path(path), compose(rows, [gt_label, *dirs], labels))
