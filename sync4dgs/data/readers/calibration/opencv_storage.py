"""OpenCV FileStorage calibrations (YAML ``%YAML`` / XML ``<opencv_storage>``), read with ``cv2.FileStorage``.

Supported layouts:
  * ONE camera per file (e.g. OpenCV's calibration sample plus extrinsics): keys without a suffix.
    The camera's name is ``camera_name`` if present, else the file name without extension. A FOLDER of
    such files (``*.yml``, ``*.yaml``, ``*.xml``) is a rig, one camera per file.
  * SEVERAL cameras in one file: a ``names`` sequence and keys suffixed ``_<name>`` (EasyMocap's
    ``K_<name>``, ``dist_<name>``, ``Rot_<name>`` / ``R_<name>``, ``T_<name>``). When a file has
    intrinsics but no extrinsics and an ``extri.yml`` sits next to it (EasyMocap's intri.yml + extri.yml),
    the extrinsics are read from there.
Keys (first found wins): K: ``camera_matrix``, ``cameraMatrix``, ``K``, ``intrinsic``; distortion:
``distortion_coefficients``, ``dist_coeffs``, ``distCoeffs``, ``dist``, ``D`` (absent: none); rotation:
``Rot``, ``R``, ``rotation_matrix``, ``rotation``, ``rvec`` (3x3 matrix or Rodrigues vector);
translation: ``T``, ``t``, ``tvec``, ``translation``; size: ``image_width`` + ``image_height``, ``W`` +
``H``, or ``image_size`` / ``size`` = [w, h] (absent: the video's size is used). Extrinsics are
world-to-camera. Lens model: ``distortion_model`` (or ``model``) = ``fisheye`` / ``equidistant`` (OpenCV fisheye
k1..k4), or a ``fisheye`` flag (1); absent: OpenCV's standard model. Units: the file's ``units`` string if
present, else "unknown".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.data.readers.calibration.rig import (CalibCamera, Calibration, as_array, finish, lens_model,
                                                   rotation_from, size_from)
from sync4dgs.errors import DataFormatError

NAME = "opencv"
SUFFIXES = (".yml", ".yaml", ".xml")
K_KEYS = ("camera_matrix", "cameraMatrix", "K", "intrinsic")
DIST_KEYS = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "dist", "D")
ROT_KEYS = ("Rot", "R", "rotation_matrix", "rotation", "rvec")
T_KEYS = ("T", "t", "tvec", "translation")


def looks_like(path: Path) -> bool:
    """True for a file that starts like an OpenCV YAML/XML storage."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head.startswith(b"%YAML") or (b"<opencv_storage>" in head) or (
        path.suffix.lower() in SUFFIXES and head.lstrip()[:1] not in (b"{", b"["))


def _open(path: Path) -> Any:
    """An open ``cv2.FileStorage`` for reading (DataFormatError if it cannot be parsed)."""
    import cv2  # noqa: PLC0415

    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as e:      # the Python binding wraps parse errors in a SystemError
        cause = e.__cause__ if isinstance(e.__cause__, cv2.error) else e
        text = " ".join(str(cause).split())
        raise DataFormatError(path, f"not a readable OpenCV FileStorage file ({text.split('error: ')[-1]})") from e
    if not fs.isOpened():
        raise DataFormatError(path, "not a readable OpenCV FileStorage file")
    return fs


def _node(fs: Any, keys: tuple[str, ...], suffix: str) -> Any:
    """The first non-empty ``cv2.FileNode`` among ``key + suffix`` for ``keys``, else None."""
    for k in keys:
        n = fs.getNode(k + suffix)
        if not n.empty():
            return n
    return None


def _values(node: Any, where: Path, what: str) -> np.ndarray:
    """A matrix node (``!!opencv-matrix``), a sequence of numbers or a number -> flat float64 array."""
    if node.isSeq():
        return np.array([node.at(i).real() for i in range(node.size())], dtype=np.float64)
    if node.isReal() or node.isInt():
        return np.array([node.real()])
    m = node.mat()
    if m is None:
        raise DataFormatError(where, f"{what} is neither a matrix nor a list of numbers")
    return np.asarray(m, dtype=np.float64).reshape(-1)


def _size(fs: Any, suffix: str, where: Path, label: str) -> tuple[int | None, int | None]:
    for kw, kh in (("image_width", "image_height"), ("W", "H"), ("width", "height")):
        w, h = fs.getNode(kw + suffix), fs.getNode(kh + suffix)
        if not w.empty() and not h.empty():
            return size_from([w.real(), h.real()], where, f"camera {label!r}: image size")
    n = _node(fs, ("image_size", "size", "imageSize"), suffix)
    if n is not None:
        return size_from(_values(n, where, "image size"), where, f"camera {label!r}: image size")
    return None, None


def _camera(intri: Any, extri: Any, suffix: str, name: str, where: Path) -> CalibCamera:
    label = name
    k = _node(intri, K_KEYS, suffix)
    if k is None:
        raise DataFormatError(where, f"camera {label!r}: no camera matrix (looked for {[x + suffix for x in K_KEYS]})")
    d = _node(intri, DIST_KEYS, suffix)
    r, t = _node(extri, ROT_KEYS, suffix), _node(extri, T_KEYS, suffix)
    if r is None or t is None:
        raise DataFormatError(where, f"camera {label!r}: no extrinsics (looked for {[x + suffix for x in ROT_KEYS]} "
                                     f"and {[x + suffix for x in T_KEYS]})")
    w, h = _size(intri, suffix, where, label)
    return CalibCamera(name, w, h, as_array(_values(k, where, "K"), (3, 3), where, f"camera {label!r}: K"),
                       np.zeros(0) if d is None else _values(d, where, f"camera {label!r}: distortion"),
                       rotation_from(_values(r, where, "rotation"), where, f"camera {label!r}: rotation"),
                       as_array(_values(t, where, "translation"), (3,), where, f"camera {label!r}: translation"),
                       _model(intri, suffix, where, label))


def _model(fs: Any, suffix: str, where: Path, label: str) -> str:
    """The lens model named by ``distortion_model`` / ``model`` (a string) or a ``fisheye`` flag."""
    n = _node(fs, ("distortion_model", "model"), suffix)
    if n is not None and n.isString():
        return lens_model(n.string(), where, f"camera {label!r}")
    n = fs.getNode("fisheye" + suffix)
    if not n.empty() and (n.isInt() or n.isReal()):
        return "fisheye" if n.real() else "opencv"
    return "opencv"


def _units(fs: Any) -> str | None:
    n = fs.getNode("units")
    return None if n.empty() or not n.isString() else n.string()


def read_file(path: Path, units: str | None = None) -> Calibration:
    """One FileStorage file holding one camera, or several with a ``names`` sequence."""
    fs = _open(path)
    extra = None
    try:
        names_node = fs.getNode("names")
        if not names_node.empty() and names_node.isSeq():
            names = [names_node.at(i).string() for i in range(names_node.size())]
            extri = fs
            if _node(fs, ROT_KEYS, f"_{names[0]}") is None and (path.parent / "extri.yml").is_file() \
                    and path.name != "extri.yml":
                extra = _open(path.parent / "extri.yml")
                extri = extra
            cams = [_camera(fs, extri, f"_{n}", n, path) for n in names]
        else:
            n = fs.getNode("camera_name")
            name = n.string() if not n.empty() and n.isString() else path.name.split(".")[0]
            cams = [_camera(fs, fs, "", name, path)]
        found_units = _units(fs)
    finally:
        fs.release()
        if extra is not None:
            extra.release()
    return finish(Calibration(path, NAME, cams, units or found_units or "unknown",
                              "the file's world frame (x_cam = R x + t)"))


def read_folder(folder: Path, units: str | None = None) -> Calibration:
    """A folder with one single-camera FileStorage file per camera (sorted by file name)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataFormatError(folder, "no OpenCV calibration files (*.yml, *.yaml, *.xml) in the folder")
    cams = []
    for f in files:
        one = read_file(f, units)
        if len(one.cameras) != 1:
            raise DataFormatError(f, f"a calibration folder needs one camera per file, this one has "
                                     f"{len(one.cameras)}")
        cams.append(one.cameras[0])
        units = units or (one.units if one.units != "unknown" else None)
    return finish(Calibration(folder, NAME, cams, units or "unknown", "the files' common world frame (x_cam = R x + t)"))
