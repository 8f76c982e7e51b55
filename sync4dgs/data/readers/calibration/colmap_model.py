"""A COLMAP sparse model folder (``cameras``, ``images`` .bin/.txt, as the ``colmap`` reader finds it).

One camera per image name stem (``cam00.png`` -> ``cam00``) or per sub-folder (``cam00/00000.png`` ->
``cam00``, the first registered image's pose). Camera models map to OpenCV distortion: SIMPLE_PINHOLE,
PINHOLE (none), SIMPLE_RADIAL (k), RADIAL (k1, k2), OPENCV (k1 k2 p1 p2), FULL_OPENCV (k1 k2 p1 p2 k3 k4 k5
k6), OPENCV_FISHEYE (OpenCV fisheye k1 k2 k3 k4); others (COLMAP's other fisheye models...) are an error. COLMAP's principal point has pixel centres at +0.5; it is
moved to OpenCV's convention here. Units: unknown (an SfM model's scale is arbitrary unless
geo-registered).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sync4dgs.data.calibrate import colmap_pose
from sync4dgs.data.readers.calibration.rig import CalibCamera, Calibration, finish, opencv_K
from sync4dgs.data.readers.colmap import find_model_dir, open_reconstruction
from sync4dgs.errors import DataFormatError

NAME = "colmap"


def _intrinsics(model: str, p: np.ndarray, where: Path, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(K in COLMAP's convention, OpenCV distortion, lens model) of a COLMAP camera model's parameters."""
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = {"SIMPLE_PINHOLE": [], "SIMPLE_RADIAL": [p[3], 0, 0, 0], "RADIAL": [p[3], p[4], 0, 0]}[model]
    elif model in ("PINHOLE", "OPENCV", "FULL_OPENCV", "OPENCV_FISHEYE"):
        fx, fy, cx, cy = p[:4]
        dist = list(p[4:])
    else:
        raise DataFormatError(where, f"camera {name!r}: COLMAP model {model} has no OpenCV pinhole equivalent "
                                     "(supported: SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV, "
                                     "OPENCV_FISHEYE)")
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
    return K, np.asarray(dist, dtype=np.float64), "fisheye" if model == "OPENCV_FISHEYE" else "opencv"


def read(folder: Path, units: str | None = None) -> Calibration:
    """Read the model in ``folder`` (or ``folder/sparse/0``, ``folder/sparse``)."""
    model_dir = find_model_dir(folder)
    if model_dir is None:
        raise DataFormatError(folder, "no COLMAP model (cameras/images .bin or .txt) in the folder")
    rec = open_reconstruction(model_dir)
    first: dict[str, object] = {}
    for im in sorted((im for im in rec.images.values() if im.has_pose), key=lambda im: im.name):
        name = im.name.split("/", 1)[0] if "/" in im.name else Path(im.name).stem
        first.setdefault(name, im)
    cams = []
    for name, im in first.items():
        ccam = rec.cameras[im.camera_id]
        K, dist, lens = _intrinsics(ccam.model_name, np.asarray(ccam.params, dtype=np.float64), model_dir, name)
        R, t = colmap_pose(im)
        cams.append(CalibCamera(name, int(ccam.width), int(ccam.height), opencv_K(K), dist, R, t, lens))
    return finish(Calibration(model_dir, NAME, cams, units or "unknown",
                              "the COLMAP model's world (x_cam = R x + t)"))
