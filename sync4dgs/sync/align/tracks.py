"""Per-camera 2D point tracks: the container every stage of the aligner works on, and the track file format.

Track file format (``--tracks DIR``; one file per camera, ``DIR/<camera name>.npz``)::

    tracks  float32/float64 [M, T, 2]  pixel coordinates (x right, y down) of M tracked points in each of the
                                       camera's T = n_frames frames, in the scene's pixel convention (pixel
                                       column j spans [j, j+1), so its centre is x = j + 0.5) at the camera's
                                       width x height from scene.json; NaN where the point is not visible.
    depth   float [M, T]  (optional)   depth along the optical axis (scene units), NaN where unknown;
                                       validated and carried along, not used by the current method.

Only tracks of *moving* points help; static ones are dropped (motion below ``min_track_motion_px``).
Frame ``i`` of a track is at the camera's local time ``CameraSpec.tau_s()[i]``. Track colours are sampled
from the scene's frames; foreground masks (the silhouette cue) are always computed from the frames too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.data.scene import CameraSpec
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)


@dataclass
class CameraTracks:
    """One camera's tracks.

    camera: camera name. xy: [M, T, 2] float32 pixel coordinates at the camera's full resolution (scene
    convention, NaN = invisible). tau_s: [T] float64 local capture times (seconds). depth: optional [M, T].
    rgb: optional [M, 3] uint8 colour of each track. track_scale: tracking resolution / full resolution
    (multiply full-resolution pixels by it to get tracking pixels). with_blobs: the camera had too few KLT
    tracks and carries blob-centroid tracks too (sync4dgs/sync/align/blobs.py).
    """

    camera: str
    xy: np.ndarray
    tau_s: np.ndarray
    track_scale: float = 1.0
    depth: np.ndarray | None = None
    rgb: np.ndarray | None = None
    with_blobs: bool = False

    @property
    def n_tracks(self) -> int:
        return int(self.xy.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """[M, T] bool: the track is visible in that frame."""
        return np.isfinite(self.xy).all(axis=-1)

    def motion_px(self) -> np.ndarray:
        """[M] total path length of each track, in tracking pixels (0 for tracks shorter than 2 frames)."""
        d = np.linalg.norm(np.diff(self.xy, axis=1), axis=-1)
        return np.nansum(d, axis=1) * self.track_scale

    def subset(self, keep: np.ndarray) -> "CameraTracks":
        """The tracks with indices ``keep`` ([K] int), in that order."""
        keep = np.asarray(keep, dtype=np.int64)
        return CameraTracks(self.camera, self.xy[keep], self.tau_s, self.track_scale,
                            None if self.depth is None else self.depth[keep],
                            None if self.rgb is None else self.rgb[keep], self.with_blobs)

    def filter_moving(self, min_frames: int, min_motion_px: float) -> "CameraTracks":
        """Keep tracks visible in >= ``min_frames`` frames whose positions spread >= ``min_motion_px``."""
        v = self.valid
        n = v.sum(axis=1)
        hi = np.where(v[..., None], self.xy, -np.inf).max(axis=1, initial=-np.inf)
        lo = np.where(v[..., None], self.xy, np.inf).min(axis=1, initial=np.inf)
        extent = np.linalg.norm(np.where(n[:, None] > 0, hi - lo, 0.0), axis=-1)
        spread = np.where(n > 0, extent, 0.0) * self.track_scale
        return self.subset(np.nonzero((n >= min_frames) & (spread >= min_motion_px))[0])


def load_camera_tracks(path: str | Path, cam: CameraSpec) -> CameraTracks:
    """Read and validate one camera's track file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, f"track file for camera {cam.name} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "tracks" not in z.files:
                raise DataFormatError(path, f"missing array 'tracks' (have {z.files})")
            xy = np.asarray(z["tracks"], dtype=np.float32)
            depth = np.asarray(z["depth"], dtype=np.float32) if "depth" in z.files else None
    except (OSError, ValueError) as e:
        raise DataFormatError(path, f"not a readable .npz file: {e}") from e
    if xy.ndim != 3 or xy.shape[2] != 2:
        raise DataFormatError(path, f"'tracks' must have shape [M, T, 2], got {list(xy.shape)}")
    if xy.shape[1] != cam.n_frames:
        raise DataFormatError(path, f"'tracks' has {xy.shape[1]} frames, camera {cam.name} has {cam.n_frames}")
    if depth is not None and depth.shape != xy.shape[:2]:
        raise DataFormatError(path, f"'depth' must have shape {list(xy.shape[:2])}, got {list(depth.shape)}")
    if np.isinf(xy).any():
        raise DataFormatError(path, "'tracks' contains Inf (use NaN for invisible points)")
    xy = xy.copy()
    xy[~np.isfinite(xy).all(-1)] = np.nan
    out_of_image = (xy[..., 0] < -0.5 * cam.width) | (xy[..., 0] > 1.5 * cam.width) | \
                   (xy[..., 1] < -0.5 * cam.height) | (xy[..., 1] > 1.5 * cam.height)
    if out_of_image.sum() > 0.5 * np.isfinite(xy[..., 0]).sum() > 0:
        raise DataFormatError(path, f"most track points lie far outside the {cam.width}x{cam.height} image; "
                                    "tracks must be in full-resolution pixel coordinates")
    log.info("camera %s: %d external tracks from %s", cam.name, xy.shape[0], path)
    return CameraTracks(cam.name, xy, cam.tau_s(), 1.0, depth)


def save_camera_tracks(path: str | Path, tracks: CameraTracks) -> None:
    """Write ``tracks`` in the track file format (atomically)."""
    from sync4dgs.utils.atomic import atomic_path  # noqa: PLC0415

    with atomic_path(path) as tmp:
        arrays = {"tracks": tracks.xy.astype(np.float32)}
        if tracks.depth is not None:
            arrays["depth"] = tracks.depth.astype(np.float32)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
