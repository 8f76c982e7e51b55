"""anipose / Pose2Sim calibration TOML (aniposelib ``CameraGroup.dump``, Pose2Sim ``Calib*.toml``).

Layout: one table per camera (anipose ``[cam_0]``, ``[cam_1]``...; Pose2Sim names them freely, e.g.
``[int_cam01_img]``) holding ``name``, ``size`` = [width, height] (px; Pose2Sim writes floats),
``matrix`` 3x3 (px, OpenCV pixel convention), ``distortions`` (OpenCV k1 k2 p1 p2 [k3 ...]),
``rotation`` (Rodrigues vector, radians; a 3x3 matrix is accepted too) and ``translation``, world-to-camera
(``x_cam = R x + t``), plus an optional ``fisheye`` flag (true: ``distortions`` are OpenCV fisheye k1..k4, as
aniposelib's ``FisheyeCamera`` writes them) and a ``[metadata]`` table. Tables without a
``matrix`` (``metadata``) are not cameras. The files do not state a length unit: anipose uses the unit of
its board's square size (often mm), Pose2Sim metres; ``units`` is "unknown" unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync4dgs.data.readers.calibration.rig import (CalibCamera, Calibration, as_array, finish, rotation_from,
                                                   size_from)
from sync4dgs.errors import DataFormatError

NAME = "anipose"
CAMERA_KEYS = ("matrix", "distortions", "rotation", "translation")


def looks_like(doc: dict[str, Any]) -> bool:
    """True if some top-level table has a ``matrix`` and there is no caliscope ``cameras`` table."""
    return "cameras" not in doc and any(isinstance(v, dict) and "matrix" in v for v in doc.values())


def camera_from_table(table: dict[str, Any], label: str, name: str, where: Path) -> CalibCamera:
    """A camera from an anipose/caliscope-style table (``size``, ``matrix``, ``distortions``,
    ``rotation``, ``translation``); ``label`` names it in errors."""
    missing = [k for k in CAMERA_KEYS if k not in table]
    if missing:
        raise DataFormatError(where, f"camera {label!r}: missing key(s) {missing}")
    size = size_from(table["size"], where, f"camera {label!r}: size") if "size" in table else (None, None)
    return CalibCamera(name=name, width=size[0], height=size[1],
                       K=as_array(table["matrix"], (3, 3), where, f"camera {label!r}: matrix"),
                       dist=as_array(table["distortions"], None, where, f"camera {label!r}: distortions"),
                       R=rotation_from(table["rotation"], where, f"camera {label!r}: rotation"),
                       t=as_array(table["translation"], (3,), where, f"camera {label!r}: translation"),
                       model=_model(table.get("fisheye", False), where, label))


def _model(flag: Any, where: Path, label: str) -> str:
    """anipose's ``fisheye`` flag -> lens model."""
    if not isinstance(flag, bool):
        raise DataFormatError(where, f"camera {label!r}: fisheye must be true or false, got {flag!r}")
    return "fisheye" if flag else "opencv"


def read(path: Path, doc: dict[str, Any], units: str | None = None) -> Calibration:
    """Parse an already-loaded anipose/Pose2Sim TOML document (``tomllib.load``)."""
    cams = []
    for key, table in doc.items():
        if not isinstance(table, dict) or key == "metadata":
            continue
        if "matrix" not in table:
            raise DataFormatError(path, f"camera {key!r}: missing key(s) ['matrix']")
        name = str(table.get("name", key))
        cams.append(camera_from_table(table, name, name, path))
    return finish(Calibration(path, NAME, cams, units or "unknown",
                              "anipose/Pose2Sim world (x_cam = R x + t; anipose: the first camera's or the "
                              "board's frame, Pose2Sim: the scene's)"))
