"""Rig calibrations users already have, read into one OpenCV-convention form (:class:`Calibration`).

``read_calibration(path)`` detects the format from the file itself:

=================  ==========================================================================================
format             recognised by
=================  ==========================================================================================
``anipose``        ``.toml`` with camera tables holding ``matrix`` (anipose ``[cam_N]``, Pose2Sim ``Calib*.toml``)
``caliscope``      ``.toml`` with a ``[cameras.<port>]`` table (caliscope ``camera_array.toml``)
``opencv``         OpenCV FileStorage YAML/XML (``%YAML`` / ``<opencv_storage>``), or a folder of them
``qualisys``       ``*.qca.txt`` (or XML with a QTM ``<calibration>``): Qualisys Track Manager's export (:mod:`.qualisys`)
``colmap``         a folder holding a COLMAP model (``cameras``/``images`` .bin or .txt; ``sparse/0``, ``sparse``)
``sync4dgs_json``  ``.json`` with a ``cameras`` list or mapping (our cameras.json, a scene.json)
=================  ==========================================================================================

Lens models: OpenCV's standard model (``model = "opencv"``, 0-14 coefficients) and OpenCV's fisheye model
(``model = "fisheye"``, k1..k4: anipose ``fisheye = true``, COLMAP ``OPENCV_FISHEYE``, cameras.json / OpenCV
YAML ``model``/``distortion_model`` = ``fisheye``).
Every camera is validated (finite numbers, proper rotation within 1e-6, ...); errors are one line naming
the file and the camera (:mod:`.rig`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from sync4dgs.data.readers.calibration import (anipose, caliscope, cameras_json, colmap_model, opencv_storage,
                                               qualisys)
from sync4dgs.data.readers.calibration.rig import CalibCamera, Calibration, opencv_K, scene_K
from sync4dgs.data.readers.colmap import find_model_dir
from sync4dgs.errors import DataFormatError

FORMATS = ("anipose", "caliscope", "opencv", "qualisys", "colmap", "sync4dgs_json")
SUPPORTED = ("anipose/Pose2Sim TOML, caliscope camera_array.toml, OpenCV FileStorage YAML/XML (a file or a folder "
             "of per-camera files), Qualisys .qca.txt, a COLMAP model folder, sync4dgs cameras.json")

__all__ = ["FORMATS", "CalibCamera", "Calibration", "read_calibration", "scene_K", "opencv_K"]


def _unknown(path: Path, why: str) -> DataFormatError:
    return DataFormatError(path, f"unrecognised calibration ({why}); supported: {SUPPORTED}")


def _read_toml(path: Path, units: str | None) -> Calibration:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(path, f"not valid TOML: {str(e).splitlines()[0]}") from e
    if caliscope.looks_like(doc):
        return caliscope.read(path, doc, units)
    if anipose.looks_like(doc):
        return anipose.read(path, doc, units)
    raise _unknown(path, "a TOML file without camera tables holding 'matrix'")


def read_calibration(path: str | Path, units: str | None = None) -> Calibration:
    """Read a calibration file or folder; ``units`` overrides the length unit the file states (or not).

    Raises DataFormatError (one line: the file, what is wrong, for a camera its name) if the path is
    missing, its format unknown, or a camera invalid.
    """
    path = Path(path)
    if path.is_dir():
        if find_model_dir(path) is not None:
            return colmap_model.read(path, units)
        if any(p.suffix.lower() in opencv_storage.SUFFIXES for p in path.iterdir()):
            return opencv_storage.read_folder(path, units)
        raise _unknown(path, "a folder with neither a COLMAP model nor OpenCV .yml/.xml files")
    if not path.is_file():
        raise DataFormatError(path, "calibration file not found")
    if path.suffix.lower() in (".txt", ".xml") and qualisys.looks_like(path):
        return qualisys.read(path, units)
    if path.suffix.lower() == ".toml":
        return _read_toml(path, units)
    if path.suffix.lower() == ".json":
        doc = cameras_json.load(path)
        if cameras_json.looks_like(doc):
            return cameras_json.read(path, doc, units)
        raise _unknown(path, "a JSON file without a 'cameras' list or mapping")
    if opencv_storage.looks_like(path):
        return opencv_storage.read_file(path, units)
    raise _unknown(path, f"unknown file type {path.suffix or '(no extension)'!r}")
