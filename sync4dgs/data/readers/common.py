"""Helpers shared by the readers and ``unsync``: video timing, frame grabbing, normalisation, time maps."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from sync4dgs.data.scene import CameraSpec, Normalization
from sync4dgs.data.video import downscale_image, iter_video_frames
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps

log = logging.getLogger(__name__)



def grab_frames(path: str | Path, indices: list[int], downscale: int = 1) -> dict[int, np.ndarray]:
    """Decode the frames with the given 0-based indices (RGB uint8 [H/d, W/d, 3]); stops after the last one.

    Raises DataFormatError if the video ends before an index.
    """
    want = sorted(set(int(i) for i in indices))
    out: dict[int, np.ndarray] = {}
    if not want:
        return out
    frames = iter_video_frames(path)
    try:
        for k, (img, _t) in enumerate(frames):
            if k in want:
                out[k] = downscale_image(img, downscale)
            if k >= want[-1]:
                break
    finally:
        frames.close()
    missing = [i for i in want if i not in out]
    if missing:
        raise DataFormatError(path, f"video ends before frame(s) {missing[:5]} could be decoded")
    return out


# ---- normalisation ---------------------------------------------------------------------------------
OUTLIER_DISTANCE = 1000.0   # a camera this many times farther from the rig's median centre than the median is corrupt


def check_camera_centres(cameras: list[CameraSpec], where) -> None:
    """DataFormatError naming the camera whose centre is non-finite or lies OUTLIER_DISTANCE x farther from the
    cameras' median centre than their median distance (a pose in the wrong units, or a corrupt one)."""
    centers = np.stack([c.center for c in cameras])
    for cam, c in zip(cameras, centers):
        if not np.isfinite(c).all() or np.abs(c).max() > 1e15:
            raise DataFormatError(where, f"camera {cam.name}: centre {c.tolist()} is not a usable position")
    if len(cameras) < 3:
        return
    med = np.median(centers, axis=0)
    dist = np.linalg.norm(centers - med, axis=1)
    typical = float(np.median(dist))
    if typical <= 0:
        return
    worst = int(np.argmax(dist))
    if dist[worst] > OUTLIER_DISTANCE * typical:
        raise DataFormatError(where, f"camera {cameras[worst].name}: centre {centers[worst].tolist()} is "
                                     f"{dist[worst] / typical:.3g}x farther from the rig than the median camera "
                                     "(wrong units or a corrupt pose?)")


def compute_normalization(cameras: list[CameraSpec], near: float | None = None) -> Normalization:
    """Centre = mean camera centre; scale so that 1.1 x the largest camera distance from it is 1.

    This makes the 3DGS "cameras extent" 1, the unit the usual densification thresholds assume. If the
    cameras are (nearly) co-located (a single camera), the scale makes ``near`` 1 instead (or 1 if unknown).
    """
    centers = np.stack([c.center for c in cameras])
    center = centers.mean(0)
    radius = 1.1 * float(np.linalg.norm(centers - center, axis=1).max())
    ref = near if near is not None and near > 0 else 1.0
    if radius < 1e-6 * ref:
        radius = ref
    return Normalization(center=center, scale=1.0 / radius)


def normalize_camera(cam: CameraSpec, norm: Normalization) -> CameraSpec:
    """The same camera in normalised coordinates: ``t' = scale * (t + R @ center)``, R and K unchanged."""
    t = norm.scale * (np.asarray(cam.t, dtype=np.float64) + cam.R @ norm.center)
    return dataclasses.replace(cam, t=t)


def orthonormalize(R: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (SVD), for matrices stored with float32 round-off."""
    U, _, Vt = np.linalg.svd(R)
    out = U @ Vt
    if np.linalg.det(out) < 0:
        U[:, -1] *= -1
        out = U @ Vt
    return out


def check_rotation(R: np.ndarray, where: Path, what: str, tol: float = 1e-3) -> np.ndarray:
    """Validate a 3x3 rotation (finite, orthonormal within ``tol``, det +1) and return it re-orthonormalised."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        raise DataFormatError(where, f"{what}: rotation contains NaN/Inf or has the wrong shape")
    err = float(np.abs(R @ R.T - np.eye(3)).max())
    if err > tol or abs(np.linalg.det(R) - 1.0) > tol:
        raise DataFormatError(where, f"{what}: rotation is not orthonormal with det +1 "
                                     f"(max |R R^T - I| = {err:.3g}, det = {np.linalg.det(R):.4f})")
    return orthonormalize(R)


# ---- time maps -------------------------------------------------------------------------------------
def shift_time_maps(tm: TimeMaps, first_tau_s: dict[str, float]) -> TimeMaps:
    """Time maps after re-zeroing each camera's clock at its old local time ``first_tau_s[name]`` (s)
    (i.e. after dropping the frames before it): ``o' = o + r * first_tau``. The reference is kept; call
    :func:`sync4dgs.timemap.rereference` afterwards to put its new first frame at global time 0."""
    cams = {n: TimeMap(m.offset_s + m.rate * float(first_tau_s.get(n, 0.0)), m.rate, m.confidence, m.status)
            for n, m in tm.cameras.items()}
    return TimeMaps(tm.reference_camera, cams, tm.extra)


def subset_time_maps(tm: TimeMaps, names: list[str], where: Path) -> TimeMaps:
    """Keep the listed cameras' maps (all must be present)."""
    missing = [n for n in names if n not in tm.cameras]
    if missing:
        raise DataFormatError(where, f"ground-truth time maps lack camera(s) {missing}")
    return TimeMaps(tm.reference_camera, {n: tm.cameras[n] for n in names}, tm.extra)


# ---- image sequences -------------------------------------------------------------------------------
def check_image_headers(paths: list[Path], size: tuple[int, int] | None = None) -> None:
    """Open every image's header (no full decode) and check its (width, height) against ``size``.

    ``paths[i]`` is the camera's frame ``i``. Raises DataFormatError naming the first missing, unreadable or
    wrongly sized file and its frame (every frame is decoded later, by sync4dgs.data.frame_check).
    """
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    for i, p in enumerate(paths):
        if not p.is_file():
            raise DataFormatError(p, f"frame {i}: image file not found")
        try:
            with Image.open(p) as im:
                wh = im.size
        except (UnidentifiedImageError, OSError) as e:
            raise DataFormatError(p, f"frame {i}: unreadable or corrupt image ({type(e).__name__})") from e
        if size is not None and tuple(wh) != tuple(size):
            raise DataFormatError(p, f"frame {i}: image is {wh[0]}x{wh[1]}, expected {size[0]}x{size[1]} "
                                     "like the camera's other frames")
