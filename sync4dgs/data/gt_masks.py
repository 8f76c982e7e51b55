"""True moving-object masks of a synthetic scene: ``<scene>/gt_masks/<camera>.npz`` (written by sync4dgs synth).

Format of one camera's file (``numpy.savez_compressed``)::

    bits    uint8 [T, H, ceil(W / 8)]   np.packbits(mask, axis=-1) of the bool masks [T, H, W] (big bit order)
    width   int64 scalar                W (the padding bits of the last byte are zero)

Frame ``i`` of the file is frame ``i`` of the camera (``n_frames`` frames, its own frame indices); a pixel is True
when at least one of its supersampled rays hits a moving object in front of the static scene (so its colour
contains some of a moving object). Benchmarks only: training never reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path

GT_MASKS_DIR = "gt_masks"


def gt_mask_path(scene_root: str | Path, camera: str) -> Path:
    """``<scene_root>/gt_masks/<camera>.npz``."""
    return Path(scene_root) / GT_MASKS_DIR / f"{camera}.npz"


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """bool [..., H, W] -> uint8 [..., H, ceil(W / 8)] (``np.packbits`` along the last axis)."""
    return np.packbits(np.asarray(mask, dtype=bool), axis=-1)


def save_gt_masks(path: str | Path, bits: np.ndarray, width: int) -> None:
    """Write packed masks ``bits`` uint8 [T, H, ceil(W / 8)] of width ``width`` (pixels) atomically."""
    bits = np.asarray(bits, dtype=np.uint8)
    if bits.ndim != 3 or bits.shape[-1] != (width + 7) // 8:
        raise ValueError(f"packed masks must be [T, H, ceil({width} / 8)], got {bits.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, bits=bits, width=np.int64(width))


def load_gt_masks(path: str | Path) -> np.ndarray:
    """bool [T, H, W] masks of one camera (DataFormatError if the file is missing or malformed)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "true-mask file not found")
    try:
        with np.load(path) as z:
            bits, width = np.asarray(z["bits"]), int(z["width"])
    except (OSError, KeyError, ValueError) as e:
        raise DataFormatError(path, f"unreadable true-mask file: {e}") from e
    if bits.dtype != np.uint8 or bits.ndim != 3 or bits.shape[-1] != (width + 7) // 8:
        raise DataFormatError(path, f"bits must be uint8 [T, H, ceil({width} / 8)], got {bits.dtype} {bits.shape}")
    return np.unpackbits(bits, axis=-1, count=width).astype(bool)
