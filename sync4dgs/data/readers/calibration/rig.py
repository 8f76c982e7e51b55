"""The calibration of a rig as every calibration-file reader returns it, and the checks they all apply.

Conventions (OpenCV): ``K`` [3, 3] in pixels with the CENTRE of the top-left pixel at (0, 0) (OpenCV,
anipose, caliscope; COLMAP and our scene.json put it at (0.5, 0.5), see :func:`scene_K`); ``dist`` the
OpenCV distortion coefficients ``k1 k2 p1 p2 [k3 [k4 k5 k6 [s1 s2 s3 s4 [tx ty]]]]`` (0, 4, 5, 8, 12 or 14
values, dimensionless, on normalised image coordinates) for ``model = "opencv"``, or OpenCV's fisheye
(equidistant, ``cv2.fisheye``) ``k1 k2 k3 k4`` for ``model = "fisheye"``; ``R`` [3, 3], ``t`` [3] world-to-camera,
``x_cam = R @ x_world + t``, ``t`` in the file's length unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.errors import DataFormatError

ROTATION_TOL = 1e-6
DIST_LENGTHS = (0, 4, 5, 8, 12, 14)
MODELS = ("opencv", "fisheye")
FISHEYE_NAMES = ("fisheye", "equidistant", "kannala_brandt", "opencv_fisheye")


@dataclass
class CalibCamera:
    """One calibrated camera.

    name: the camera's name in the file. width, height: the image size (pixels) the intrinsics refer to,
    or None when the file does not say (then the video's size is taken as it). K: float64 [3, 3] px
    (OpenCV pixel convention, see module docstring). dist: float64 [n] OpenCV coefficients. R: float64
    [3, 3] world-to-camera rotation. t: float64 [3] world-to-camera translation (file units).
    model: the lens model of ``dist``, "opencv" (standard) or "fisheye" (cv2.fisheye, 4 coefficients).
    """

    name: str
    width: int | None
    height: int | None
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    model: str = "opencv"

    @property
    def center(self) -> np.ndarray:
        """[3] camera centre in the calibration's world (file units)."""
        return -self.R.T @ self.t


@dataclass
class Calibration:
    """A rig calibration read from ``path``.

    format: the detected format name (see ``FORMATS``). units: the length unit of ``t`` ("m", "mm", ...)
    or "unknown" when the file does not say. world: how the file defines its world frame (free text).
    cameras: in the file's order. notes: anything the reader wants to record (ignored keys, ...).
    """

    path: Path
    format: str
    cameras: list[CalibCamera]
    units: str = "unknown"
    world: str = "the calibration's own world frame"
    notes: dict[str, Any] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [c.name for c in self.cameras]


def as_array(value: Any, shape: tuple[int, ...] | None, where: Path, what: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: 1-D of any length); DataFormatError otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataFormatError(where, f"{what} is not numeric: {e}") from e
    if shape is None:
        arr = arr.reshape(-1)
    elif arr.size == int(np.prod(shape)):
        arr = arr.reshape(shape)
    else:
        raise DataFormatError(where, f"{what} has {arr.size} values, expected shape {shape}")
    return arr


def rotation_from(value: Any, where: Path, what: str) -> np.ndarray:
    """A rotation given as a 3x3 matrix (9 values) or a Rodrigues vector (3 values, radians) -> [3, 3]."""
    import cv2  # noqa: PLC0415

    arr = as_array(value, None, where, what)
    if arr.size == 9:
        return arr.reshape(3, 3)
    if arr.size == 3:
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(where, f"{what} contains NaN or Inf")
        return np.asarray(cv2.Rodrigues(arr.reshape(3, 1))[0], dtype=np.float64)
    raise DataFormatError(where, f"{what} has {arr.size} values: expected a 3x3 matrix or a Rodrigues vector (3)")


def validate_camera(cam: CalibCamera, where: Path) -> CalibCamera:
    """Check one camera (finite values, K upper triangular with positive focals, proper rotation within
    ``ROTATION_TOL``, known distortion length, positive size); raises a one-line DataFormatError naming
    ``where`` and the camera. Returns the camera unchanged."""
    who = f"camera {cam.name!r}"
    for what, arr in (("K", cam.K), ("distortion", cam.dist), ("R", cam.R), ("t", cam.t)):
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(where, f"{who}: {what} contains NaN or Inf")
    if cam.K.shape != (3, 3) or cam.R.shape != (3, 3) or cam.t.shape != (3,):
        raise DataFormatError(where, f"{who}: K, R must be 3x3 and t 3 values")
    K = cam.K
    if not (K[0, 0] > 0 and K[1, 1] > 0) or np.any(K[1:, 0] != 0) or K[2, 1] != 0 or K[2, 2] != 1:
        raise DataFormatError(where, f"{who}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, "
                                     f"got {K.tolist()}")
    err = float(np.abs(cam.R.T @ cam.R - np.eye(3)).max())
    det = float(np.linalg.det(cam.R))
    if err > ROTATION_TOL or abs(det - 1.0) > ROTATION_TOL:
        raise DataFormatError(where, f"{who}: R is not a rotation (max |R^T R - I| = {err:.3g}, det = {det:.6f}; "
                                     f"tolerance {ROTATION_TOL:g})")
    if cam.model not in MODELS:
        raise DataFormatError(where, f"{who}: unknown lens model {cam.model!r} (supported: {', '.join(MODELS)})")
    if cam.model == "fisheye" and cam.dist.size != 4:
        raise DataFormatError(where, f"{who}: the fisheye model takes 4 distortion coefficients (k1 k2 k3 k4), "
                                     f"got {cam.dist.size}")
    if cam.model == "opencv" and cam.dist.size not in DIST_LENGTHS:
        raise DataFormatError(where, f"{who}: {cam.dist.size} distortion coefficients; OpenCV takes "
                                     f"{', '.join(map(str, DIST_LENGTHS))}")
    if (cam.width is None) != (cam.height is None) or (cam.width is not None and not (cam.width > 0 and
                                                                                      cam.height > 0)):
        raise DataFormatError(where, f"{who}: image size must be two positive integers, got "
                                     f"{cam.width}x{cam.height}")
    return cam


def finish(calib: Calibration) -> Calibration:
    """Validate every camera and the set of names (non-empty, unique); returns ``calib``."""
    if not calib.cameras:
        raise DataFormatError(calib.path, f"no camera found in this {calib.format} calibration")
    names = calib.names()
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataFormatError(calib.path, f"camera name(s) {dup} appear more than once")
    for c in calib.cameras:
        validate_camera(c, calib.path)
    return calib


def lens_model(value, where: Path, who: str) -> str:
    """A file's lens-model name -> "opencv" / "fisheye" (fisheye, equidistant, kannala_brandt, opencv_fisheye;
    opencv, pinhole, plumb_bob, radtan, brown, rational_polynomial); DataFormatError otherwise."""
    name = str(value).strip().lower()
    if name in FISHEYE_NAMES:
        return "fisheye"
    if name in ("opencv", "pinhole", "plumb_bob", "radtan", "brown", "rational_polynomial", ""):
        return "opencv"
    raise DataFormatError(where, f"{who}: unknown lens model {value!r} (supported: OpenCV's standard model, or "
                                 f"its fisheye model: {', '.join(FISHEYE_NAMES)})")


def size_from(value: Any, where: Path, what: str) -> tuple[int, int]:
    """An image size [w, h] (ints, or floats holding integers as Pose2Sim writes them) -> (w, h)."""
    arr = as_array(value, (2,), where, what)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr <= 0):
        raise DataFormatError(where, f"{what} must be two positive integers [width, height], got {arr.tolist()}")
    return int(arr[0]), int(arr[1])


def scene_K(K_cv: np.ndarray) -> np.ndarray:
    """OpenCV intrinsics (pixel centres at integers) -> scene.json/COLMAP intrinsics (centres at +0.5)."""
    K = np.array(K_cv, dtype=np.float64)
    K[0, 2] += 0.5
    K[1, 2] += 0.5
    return K


def opencv_K(K_scene: np.ndarray) -> np.ndarray:
    """Inverse of :func:`scene_K`."""
    K = np.array(K_scene, dtype=np.float64)
    K[0, 2] -= 0.5
    K[1, 2] -= 0.5
    return K
