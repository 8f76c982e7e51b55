"""Qualisys Track Manager (QTM) calibration exported as XML text (``*.qca.txt``).

Layout (QTM's export; the same ``<calibration>`` element QTM's real-time protocol sends)::

    <calibration created=... qtm-version=...>
      <cameras>
        <camera active="1" serial="12039" model="Oqus 300+" viewrotation="0" video_resolution="1080p">
          <fov_video left="0" top="0" right="1295" bottom="1023"/>        (inclusive pixel bounds)
          <transform x=.. y=.. z=.. r11=.. r12=.. ... r33=../>
          <intrinsic focalLengthU=.. focalLengthV=.. centerPointU=.. centerPointV=.. skew=..
                     radialDistortion1=.. radialDistortion2=.. radialDistortion3=..
                     tangentalDistortion1=.. tangentalDistortion2=.. sensorMinU=.. sensorMaxU=.. .../>

Conventions, as read here:
  * ``x, y, z``: the camera's POSITION in the world, millimetres (units "mm").
  * ``M = [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]]`` (row i, column j): its rows are the
    camera's axes in world coordinates (camera-to-world orientation, transposed) for QTM's camera axes
    (x right, y UP, z pointing backwards out of the lens). OpenCV's camera (y down, z forward) is that
    frame turned 180 deg about x, so ``R = diag(1, -1, -1) M`` and ``t = -R C``.
  * Intrinsics are in sub-pixels, 64 per pixel of the full sensor (``sensorMaxU = 64 * width - 1``):
    ``fx = focalLengthU / 64``, ``cx = centerPointU / 64 - fov_video.left`` (OpenCV pixel convention),
    skew likewise. The image size is the video field of view, ``right - left + 1`` x ``bottom - top + 1``
    (sensor pixels); a video recorded at a lower ``video_resolution`` has the same aspect ratio and is
    rescaled by the size rule (:mod:`.match`).
  * Distortion: OpenCV ``k1 k2 p1 p2 k3`` = radialDistortion1, radialDistortion2, tangentalDistortion1,
    tangentalDistortion2, radialDistortion3, dimensionless, as they are (not divided by 64).
  * Cameras with ``active="0"`` are left out (named in ``notes``); the camera name is its ``serial``.

Sources (facts, checked): Pose2Sim's ``calib_qca_to_toml`` and its demo pair ``Calib.qca.txt`` /
``Calib_qualisys.toml`` give the same R, t to 1e-15 with these conventions; on a real QTM 2020.3 export of six
Oqus 300+ cameras, every camera's optical axis ``R[2]`` points at the capture volume only with them. Pose2Sim
divides the distortion by 64 as well, which leaves a real lens's k1 of about -0.14 at -0.002; we do not.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from sync4dgs.data.readers.calibration.rig import CalibCamera, Calibration, finish
from sync4dgs.errors import DataFormatError

NAME = "qualisys"
SUBPIXELS = 64.0
FLIP = np.diag([1.0, -1.0, -1.0])        # QTM camera axes (y up, z backwards) -> OpenCV (y down, z forward)
ROT_KEYS = tuple(f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3))


def looks_like(path: Path) -> bool:
    """True for ``*.qca.txt``, or an XML file whose root is (or wraps) a QTM ``<calibration>``."""
    if path.name.lower().endswith(".qca.txt"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"<calibration" in head and b"<opencv_storage>" not in head


def _numbers(el: ET.Element, keys: tuple[str, ...], where: Path, who: str) -> list[float]:
    """The float attributes ``keys`` of ``el``; DataFormatError naming the first missing or non-numeric one."""
    out = []
    for k in keys:
        v = el.get(k)
        if v is None:
            raise DataFormatError(where, f"{who}: <{el.tag}> has no '{k}' attribute")
        try:
            out.append(float(v))
        except ValueError as e:
            raise DataFormatError(where, f"{who}: <{el.tag}> {k}={v!r} is not a number") from e
    return out


def _child(cam: ET.Element, tag: str, where: Path, who: str) -> ET.Element:
    el = cam.find(tag)
    if el is None:
        raise DataFormatError(where, f"{who}: no <{tag}> element")
    return el


def _camera(cam: ET.Element, where: Path) -> CalibCamera:
    name = cam.get("serial")
    if not name:
        raise DataFormatError(where, "a <camera> has no 'serial' attribute (the camera's name)")
    who = f"camera {name!r}"
    fov = cam.find("fov_video")
    if fov is None:
        fov = _child(cam, "fov_video_max", where, who)
    left, top, right, bottom = _numbers(fov, ("left", "top", "right", "bottom"), where, who)
    w, h = right - left + 1, bottom - top + 1
    if not (w > 0 and h > 0 and w == round(w) and h == round(h)):
        raise DataFormatError(where, f"{who}: <{fov.tag}> bounds {left, top, right, bottom} are not a pixel "
                                     "rectangle")
    intr = _child(cam, "intrinsic", where, who)
    fu, fv, cu, cv, skew = _numbers(intr, ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV", "skew"),
                                    where, who)
    k1, k2, k3, p1, p2 = _numbers(intr, ("radialDistortion1", "radialDistortion2", "radialDistortion3",
                                         "tangentalDistortion1", "tangentalDistortion2"), where, who)
    K = np.array([[fu / SUBPIXELS, skew / SUBPIXELS, cu / SUBPIXELS - left],
                  [0.0, fv / SUBPIXELS, cv / SUBPIXELS - top], [0.0, 0.0, 1.0]])
    tr = _child(cam, "transform", where, who)
    C = np.array(_numbers(tr, ("x", "y", "z"), where, who))
    R = FLIP @ np.array(_numbers(tr, ROT_KEYS, where, who)).reshape(3, 3)
    return CalibCamera(name, int(w), int(h), K, np.array([k1, k2, p1, p2, k3]), R, -R @ C)


def read(path: Path, units: str | None = None) -> Calibration:
    """Parse a QTM ``.qca.txt`` export (see module docstring)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataFormatError(path, f"not valid XML: {e}") from e
    calib = root if root.tag == "calibration" else root.find(".//calibration")
    cams_el = None if calib is None else calib.find("cameras")
    if cams_el is None:
        raise DataFormatError(path, "no <calibration><cameras> element (not a Qualisys QTM calibration export)")
    cams, inactive, notes = [], [], {}
    for cam in cams_el.findall("camera"):
        if cam.get("active", "1").strip() == "0":
            inactive.append(cam.get("serial"))
            continue
        cams.append(_camera(cam, path))
    if inactive:
        notes["inactive_cameras"] = inactive
    if calib.get("qtm-version"):
        notes["qtm_version"] = calib.get("qtm-version")
    return finish(Calibration(path, NAME, cams, units or "mm",
                              "QTM's global frame (camera positions in mm; x_cam = R x + t with "
                              "R = diag(1,-1,-1) M)", notes))
