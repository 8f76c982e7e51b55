"""Pairing a calibration's cameras with the videos / image folders of a dataset, and its intrinsics with their
image size, and undistortion with the calibration's own OpenCV model.

Name rule (documented in docs/scene_format.md): a source (video stem or folder name) takes the calibration
camera of the same name; else of the same name ignoring case; else the one carrying the same camera
number (the last integer in the name: ``cam01.mp4`` <-> ``int_cam01_img``, ``cam_1``, ``1``), when that
number is unique on both sides. Every source and every calibration camera must be paired, else one
error lists those left over.

Size rule: intrinsics calibrated at W x H are used for a w x h image
  * as they are when the sizes are equal;
  * scaled by s = w / W when ``w * H == h * W`` (same aspect ratio, e.g. 1920x1080 -> 960x540; pixel centres
    stay centres: ``x' = s (x + 0.5) - 0.5``);
  * as they are, with a warning, when the image is SMALLER by less than ``MAX_CROP_PX`` (16) pixels in each
    direction (e.g. 1080 vs 1088): the codec-padding case. H.264/H.265 code 1080 lines as 1088 (whole 16-px
    macroblocks) and the decoder crops the padding at the bottom/right, so one tool saw 1088 and another 1080
    of the same pixels, top-left aligned: the principal point is unchanged. This is an ASSUMPTION (a crop at the
    top/left would move the principal point by up to 15 px); it is recorded (``size_rule: "cropped"``);
  * refused otherwise (larger images, bigger crops, other aspect ratios: padding or an unknown crop).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sync4dgs.data.calibrate import Undistortion
from sync4dgs.data.readers.calibration.rig import CalibCamera, opencv_K, scene_K
from sync4dgs.errors import DataFormatError

RULES = ("exact", "case-insensitive", "camera number")
MAX_CROP_PX = 16


def _number(name: str) -> int | None:
    found = re.findall(r"\d+", name)
    return int(found[-1]) if found else None


def match_cameras(calib_names: list[str], source_names: list[str], where: Path,
                  excluded: tuple[str, ...] | list[str] = ()) -> dict[str, tuple[str, str]]:
    """Pair sources with calibration cameras: ``{source: (calibration name, rule)}``; DataFormatError
    (one line, naming ``where``) listing the sources and calibration cameras left unpaired.

    ``excluded`` (``--exclude_cameras``) names sources or calibration cameras to leave out: they are paired
    like the others (so that excluding ``cam01.mp4`` also drops its ``int_cam01_img``), may stay unpaired,
    and are not in the result."""
    drop = set(excluded)
    calib_names = [c for c in calib_names if c not in drop]
    pairs: dict[str, tuple[str, str]] = {}
    free = list(calib_names)
    for rule, key in (("exact", lambda s: s), ("case-insensitive", str.lower), ("camera number", _number)):
        left = [s for s in source_names if s not in pairs]
        ks = [key(s) for s in left]
        kc = [key(c) for c in free]
        for s, k in zip(left, ks):
            if k is None or ks.count(k) != 1 or kc.count(k) != 1:
                continue
            c = free[kc.index(k)]
            pairs[s] = (c, rule)
        free = [c for c in free if c not in {v[0] for v in pairs.values()}]
    unpaired = [s for s in source_names if s not in pairs and s not in drop]
    pairs = {s: v for s, v in pairs.items() if s not in drop}
    n_src = len([s for s in source_names if s not in drop])
    if unpaired or free:
        raise DataFormatError(where, f"the calibration has {len(calib_names)} camera(s) and the dataset "
                                     f"{n_src}; no calibration camera for {unpaired or 'none'}; "
                                     f"calibration camera(s) without a video/image folder: {free or 'none'} "
                                     "(names are paired exactly, then ignoring case, then by the number in the name; "
                                     "rename files or use --exclude_cameras)")
    return pairs


def fit_intrinsics(cam: CalibCamera, width: int, height: int, where: Path,
                   source: str) -> tuple[np.ndarray, float, str]:
    """(K in OpenCV convention for a ``width`` x ``height`` image, scale factor applied, rule: "equal",
    "scaled" or "cropped") by the size rule (module docstring); DataFormatError naming both sizes otherwise."""
    if cam.width is None or (cam.width, cam.height) == (width, height):
        return np.array(cam.K, dtype=np.float64), 1.0, "equal"
    W, H = cam.width, cam.height
    if width * H == height * W:
        s = width / W
        K = scene_K(cam.K)
        K[:2] *= s
        return opencv_K(K), s, "scaled"
    if 0 <= W - width < MAX_CROP_PX and 0 <= H - height < MAX_CROP_PX:
        return np.array(cam.K, dtype=np.float64), 1.0, "cropped"
    raise DataFormatError(where, f"camera {cam.name!r}: {source} is {width}x{height} but the calibration is for "
                                 f"{W}x{H}; not the same aspect ratio ({width / W:.4f} x {height / H:.4f}) nor a "
                                 f"crop of less than {MAX_CROP_PX} px at the bottom/right (codec padding), so its "
                                 "intrinsics cannot be fitted (frames cropped or padded otherwise need a calibration "
                                 "at their own size)")


def max_distortion_px(K: np.ndarray, dist: np.ndarray, width: int, height: int, n: int = 21,
                      model: str = "opencv") -> float:
    """Largest displacement (px) between the pinhole and the distorted projection of rays through an
    n x n grid of the image (``model`` "opencv": cv2.projectPoints, "fisheye": cv2.fisheye.projectPoints;
    ``K`` in OpenCV convention). A fisheye camera is never a pinhole one, even with k = 0 (equidistant
    projection), so its displacement is measured even then."""
    import cv2  # noqa: PLC0415

    if model == "opencv" and not np.any(dist):
        return 0.0
    u, v = np.meshgrid(np.linspace(0, width - 1, n), np.linspace(0, height - 1, n))
    px = np.stack([u.ravel(), v.ravel()], 1)
    rays = np.c_[px, np.ones(len(px))] @ np.linalg.inv(K).T
    if model == "fisheye":
        proj, _ = cv2.fisheye.projectPoints(rays.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K,
                                            np.asarray(dist, np.float64).reshape(4, 1))
    else:
        proj, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, dist)
    return float(np.abs(proj.reshape(-1, 2) - px).max())


def opencv_undistortion(K: np.ndarray, dist: np.ndarray, width: int, height: int,
                        model: str = "opencv") -> Undistortion:
    """Remap tables that undistort a ``width`` x ``height`` image onto a pinhole camera with the SAME K
    (principal point kept, no re-centring, same size), built once: ``cv2.initUndistortRectifyMap`` for the
    standard model (= ``cv2.undistort(img, K, dist, newCameraMatrix=K)``), ``cv2.fisheye.initUndistortRectifyMap``
    with ``P = K`` for the fisheye model (the pinhole view keeps the centre's scale; the fisheye's periphery
    beyond the pinhole frame is cut). The returned Undistortion's ``K`` is in the scene's convention."""
    import cv2  # noqa: PLC0415

    size = (int(width), int(height))
    if model == "fisheye":
        map_x, map_y = cv2.fisheye.initUndistortRectifyMap(K, np.asarray(dist, np.float64).reshape(4, 1), np.eye(3),
                                                           K, size, cv2.CV_32FC1)
    else:
        map_x, map_y = cv2.initUndistortRectifyMap(K, dist, None, K, size, cv2.CV_32FC1)
    return Undistortion(map_x, map_y, scene_K(K), int(width), int(height))
