"""caliscope ``camera_array.toml``.

Layout (caliscope's tests/sessions/*/camera_array.toml): one table per camera under ``[cameras.<port>]``
with ``cam_id`` (or ``port``), ``size`` = [width, height], ``matrix`` 3x3 (px, OpenCV convention),
``distortions`` (OpenCV k1 k2 p1 p2 k3), ``rotation`` (3x3 matrix; older files a Rodrigues vector) and
``translation``, world-to-camera as in caliscope's projection matrices ``K [R | t]``; also ``error``,
``exposure``, ``ignore`` ... (``ignore = true`` cameras are left out), ``fisheye`` (true: OpenCV fisheye k1..k4)
and ``rotation_count`` (quarter turns caliscope applies for display and detection only: its points are turned back
to the raw frame, so the intrinsics are those of the frames as recorded; ignored here). Cameras without ``rotation`` (not
yet extrinsically calibrated) are an error. The camera name is ``cam_<port>``. Units: metres (caliscope
works in metres).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync4dgs.data.readers.calibration.anipose import camera_from_table
from sync4dgs.data.readers.calibration.rig import Calibration, finish
from sync4dgs.errors import DataFormatError

NAME = "caliscope"


def looks_like(doc: dict[str, Any]) -> bool:
    cams = doc.get("cameras")
    return isinstance(cams, dict) and all(isinstance(v, dict) for v in cams.values())


def read(path: Path, doc: dict[str, Any], units: str | None = None) -> Calibration:
    """Parse an already-loaded caliscope ``camera_array.toml`` document."""
    cams, ignored = [], []
    for key, table in doc["cameras"].items():
        port = table.get("cam_id", table.get("port", key))
        name = f"cam_{port}"
        if table.get("ignore", False):
            ignored.append(name)
            continue
        if "rotation" not in table or "translation" not in table:
            raise DataFormatError(path, f"camera {name!r}: no extrinsics (rotation/translation); run caliscope's "
                                        "extrinsic calibration first")
        cams.append(camera_from_table(table, name, name, path))
    return finish(Calibration(path, NAME, cams, units or "m",
                              "caliscope world (x_cam = R x + t; the anchor camera's or the set origin's frame)",
                              {"ignored_cameras": ignored} if ignored else {}))
