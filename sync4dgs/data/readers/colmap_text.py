"""Line-by-line check of a COLMAP TXT model before pycolmap reads it.

pycolmap's reader reports a malformed line as a C++ check ("Check failed: line_stream >> ...") without a line
number, and an image that references an undefined camera as "Rig with ID 99 does not exist". This check names
the file, the line and the problem instead: tokens that are not numbers, NaN/Inf, non-positive image sizes,
(near) zero or non-unit quaternions, images referencing cameras that ``cameras.txt`` does not define, duplicate
ids. Formats: https://colmap.github.io/format.html#text-format
"""

from __future__ import annotations

import math
from pathlib import Path

from sync4dgs.errors import DataFormatError

QUATERNION_TOL = 1e-2          # COLMAP writes unit quaternions; a far-off norm is a damaged or hand-made file


def _records(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tokens) of the non-empty, non-comment lines of ``path``."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file (binary or damaged)") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((n, line.split()))
    return out


def _numbers(path: Path, lineno: int, tokens: list[str], kinds: str, what: str) -> list[float]:
    """Parse ``tokens`` by ``kinds`` ("i" integer, "f" finite float)."""
    if len(tokens) < len(kinds):
        raise DataFormatError(path, f"line {lineno}: expected at least {len(kinds)} values ({what}), "
                                    f"got {len(tokens)}")
    out: list[float] = []
    for tok, kind in zip(tokens, kinds):
        try:
            v = int(tok) if kind == "i" else float(tok)
        except ValueError:
            raise DataFormatError(path, f"line {lineno}: {tok!r} is not a{'n integer' if kind == 'i' else ' number'} "
                                        f"({what})") from None
        if not math.isfinite(v):
            raise DataFormatError(path, f"line {lineno}: NaN or Inf ({what})")
        out.append(v)
    return out


def check_cameras_txt(path: Path) -> set[int]:
    """Camera ids defined by cameras.txt (``CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]``)."""
    ids: set[int] = set()
    for n, tok in _records(path):
        if len(tok) < 5:
            raise DataFormatError(path, f"line {n}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS..., got "
                                        f"{len(tok)} values")
        cam_id, width, height = (int(v) for v in _numbers(path, n, [tok[0], tok[2], tok[3]], "iii",
                                                          "camera id, width, height"))
        _numbers(path, n, tok[4:], "f" * len(tok[4:]), "camera parameters")
        if width <= 0 or height <= 0:
            raise DataFormatError(path, f"line {n}: camera {cam_id} has image size {width}x{height}")
        if cam_id in ids:
            raise DataFormatError(path, f"line {n}: camera id {cam_id} is defined twice")
        ids.add(cam_id)
    return ids


def check_images_txt(path: Path, camera_ids: set[int]) -> None:
    """images.txt: per image ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then one line of 2D points."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file (binary or damaged)") from None
    seen: set[int] = set()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 10:
            raise DataFormatError(path, f"line {i}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME, got "
                                        f"{len(tok)} values")
        vals = _numbers(path, i, tok[:9], "i" + "f" * 7 + "i", "image id, quaternion, translation, camera id")
        image_id, q, cam_id = int(vals[0]), vals[1:5], int(vals[8])
        norm = math.sqrt(sum(v * v for v in q))
        if abs(norm - 1.0) > QUATERNION_TOL:
            raise DataFormatError(path, f"line {i}: image {image_id} ({tok[9]}): quaternion has norm {norm:.4g}, "
                                        "expected a unit rotation quaternion")
        if cam_id not in camera_ids:
            raise DataFormatError(path, f"line {i}: image {image_id} ({tok[9]}) references camera id {cam_id}, "
                                        f"which cameras.txt does not define (ids {sorted(camera_ids)})")
        if image_id in seen:
            raise DataFormatError(path, f"line {i}: image id {image_id} is used twice")
        seen.add(image_id)
        i += 1                     # the POINTS2D line (may be empty)


def check_points3d_txt(path: Path) -> None:
    """points3D.txt: ``POINT3D_ID X Y Z R G B ERROR TRACK[]``."""
    for n, tok in _records(path):
        _numbers(path, n, tok[:8], "i" + "f" * 7, "point id, xyz, rgb, error")


def check_text_model(model_dir: Path) -> None:
    """Check cameras.txt, images.txt and points3D.txt of ``model_dir`` (if it is a TXT model)."""
    cameras, images, points = (model_dir / f"{n}.txt" for n in ("cameras", "images", "points3D"))
    if not (cameras.is_file() and images.is_file()) or (model_dir / "cameras.bin").is_file():
        return
    ids = check_cameras_txt(cameras)
    if not ids:
        raise DataFormatError(cameras, "defines no camera")
    check_images_txt(images, ids)
    if points.is_file():
        check_points3d_txt(points)
