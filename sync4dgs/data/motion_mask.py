"""Moving-pixel masks of a static camera's video, from the video alone (works on any data, no model needed).

Definition (used by the moving-region metrics and by the seeding of dynamic Gaussians): a pixel of frame i is
*moving* when it differs from the camera's own per-pixel temporal median by more than ``threshold`` (colours in
[0, 1]) in at least one channel. The median of a static camera's frames is its background with the moving
objects removed (as long as no object covers a pixel in more than half of the frames), so the mask marks where
a moving object is in frame i, plus where a background revealed in frame i differs from the median's content.

Shapes: frames are uint8 [T, H, W, 3] or float [T, H, W, 3] in [0, 1]; masks are bool [T, H, W].
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.1        # colour difference (0..1) in some channel
MAX_MEDIAN_FRAMES = 64         # the median uses at most this many evenly spaced frames (memory, speed)


def as_float01(frames: np.ndarray) -> np.ndarray:
    """uint8 0..255 or float 0..1 images -> float32 in [0, 1] (same shape)."""
    arr = np.asarray(frames)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32, copy=False)


def median_frame_indices(n_frames: int, max_frames: int = MAX_MEDIAN_FRAMES) -> np.ndarray:
    """Indices [<= max_frames] int64 of the evenly spaced frames :func:`temporal_median` uses out of ``n_frames``
    (read only these from a long video: the median of them equals ``temporal_median`` of all frames)."""
    if n_frames < 1:
        raise ValueError(f"need at least one frame, got {n_frames}")
    return np.unique(np.linspace(0, n_frames - 1, min(n_frames, max_frames)).round().astype(np.int64))


def temporal_median(frames: np.ndarray, max_frames: int = MAX_MEDIAN_FRAMES) -> np.ndarray:
    """Per-pixel median [H, W, 3] float32 in [0, 1] over at most ``max_frames`` evenly spaced frames of [T, H, W, 3]."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be [T, H, W, 3] with T >= 1, got {frames.shape}")
    idx = median_frame_indices(frames.shape[0], max_frames)
    return np.median(as_float01(frames[idx]), axis=0).astype(np.float32)


def moving_mask(frames: np.ndarray, background: np.ndarray | None = None,
                threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Bool [T, H, W]: pixels of ``frames`` [T, H, W, 3] farther than ``threshold`` from ``background``.

    ``background`` [H, W, 3] in [0, 1] defaults to :func:`temporal_median` of the same frames.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if background is None:
        background = temporal_median(frames)
    if background.shape != frames.shape[1:]:
        raise ValueError(f"background {background.shape} does not match frames {frames.shape[1:]}")
    out = np.empty(frames.shape[:3], dtype=bool)
    for i in range(frames.shape[0]):                     # one frame at a time: no [T, H, W, 3] float copy
        out[i] = (np.abs(as_float01(frames[i]) - background) > threshold).any(axis=-1)
    return out
