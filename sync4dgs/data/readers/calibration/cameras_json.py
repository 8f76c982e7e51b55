"""Our own ``cameras.json``: the camera fields of ``scene.json``, plus optional distortion and units.

Layout::

    {"units": "m",                                   # optional (default "unknown")
     "cameras": [{"name": "cam00", "width": 1920, "height": 1080,
                  "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],      # pixels, scene.json convention
                  "R": [[...], [...], [...]], "t": [tx, ty, tz],   # world-to-camera, x_cam = R x + t
                  "distortion": [k1, k2, p1, p2, k3],              # optional, OpenCV model
                  "model": "opencv"}]}                             # optional; "fisheye": k1..k4 of cv2.fisheye

``cameras`` may also be a mapping name -> camera (the layout of a model's ``cameras_refined.json``, whose
cameras have no size: the video's size is then used), and a ``scene.json`` is accepted as it is. K follows
scene.json's convention (pixel centres at +0.5, like COLMAP) and is converted to OpenCV's here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.data.readers.calibration.rig import (CalibCamera, Calibration, as_array, finish, lens_model, opencv_K,
                                                   scene_K, size_from)
from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import write_json

NAME = "sync4dgs_json"


def looks_like(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("cameras"), (list, dict))


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(path, f"not valid JSON: {e}") from e


def _camera(d: dict[str, Any], name: str, where: Path) -> CalibCamera:
    missing = [k for k in ("K", "R", "t") if k not in d]
    if missing:
        raise DataFormatError(where, f"camera {name!r}: missing key(s) {missing}")
    w, h = size_from([d["width"], d["height"]], where, f"camera {name!r}: width/height") \
        if "width" in d or "height" in d else (None, None)
    return CalibCamera(name, w, h, opencv_K(as_array(d["K"], (3, 3), where, f"camera {name!r}: K")),
                       as_array(d.get("distortion", []), None, where, f"camera {name!r}: distortion"),
                       as_array(d["R"], (3, 3), where, f"camera {name!r}: R"),
                       as_array(d["t"], (3,), where, f"camera {name!r}: t"),
                       lens_model(d.get("model", "opencv"), where, f"camera {name!r}"))


def read(path: Path, doc: dict[str, Any], units: str | None = None) -> Calibration:
    """Parse a loaded cameras.json / scene.json / cameras_refined.json document."""
    raw = doc["cameras"]
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    else:
        items = []
        for i, v in enumerate(raw):
            if not isinstance(v, dict) or "name" not in v:
                raise DataFormatError(path, f"camera #{i}: each entry needs a 'name'")
            items.append((str(v["name"]), v))
    cams = []
    for name, v in items:
        if not isinstance(v, dict):
            raise DataFormatError(path, f"camera {name!r}: not an object")
        cams.append(_camera(v, name, path))
    norm = doc.get("normalization")
    world = "the file's world frame (x_cam = R x + t)"
    if isinstance(norm, dict):
        world = f"a sync4dgs scene's normalised frame (center {norm.get('center')}, scale {norm.get('scale')})"
    return finish(Calibration(path, NAME, cams, units or str(doc.get("units", "unknown")), world))


def write(path: Path, cameras: list[CalibCamera], units: str = "unknown") -> Path:
    """Write ``cameras`` (OpenCV convention, see rig.py) as a cameras.json that :func:`read` reads back."""
    out = []
    for c in cameras:
        d: dict[str, Any] = {"name": c.name}
        if c.width is not None:
            d["width"], d["height"] = int(c.width), int(c.height)
        d.update(K=scene_K(c.K).tolist(), R=np.asarray(c.R).tolist(), t=np.asarray(c.t).tolist(),
                 distortion=[float(x) for x in np.asarray(c.dist).reshape(-1)])
        if c.model != "opencv":
            d["model"] = c.model
        out.append(d)
    write_json(path, {"units": units, "cameras": out})
    return Path(path)
