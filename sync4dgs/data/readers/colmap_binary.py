"""Structural check of a COLMAP binary model (``cameras.bin``, ``images.bin``, ``points3D.bin``) before
pycolmap reads it.

pycolmap trusts the counts a binary file starts with: a truncated or damaged file gives a C++ check failure
without a file name, a huge allocation, or garbage. This check walks every record with the layout of COLMAP's
binary format (little-endian; https://colmap.github.io/format.html#binary-file-format) and names the file, the
record and the problem: a count the file has no room for, a record cut short, bytes after the last record,
unknown camera models, non-positive sizes, NaN/Inf, non-unit quaternions, image names that are not
NUL-terminated text, duplicate ids, images referencing cameras ``cameras.bin`` does not define, and points whose
tracks reference images ``images.bin`` does not define.

Layouts (per record; ``u32``/``u64`` unsigned, ``i32`` signed, ``f64`` double):
  cameras.bin: u64 count, then ``u32 camera_id, i32 model_id, u64 width, u64 height, f64 params[n(model)]``.
  images.bin: u64 count, then ``u32 image_id, f64 qw qx qy qz, f64 tx ty tz, u32 camera_id, NAME\\0,
      u64 n_points2D, (f64 x, f64 y, u64 point3D_id) * n_points2D``.
  points3D.bin: u64 count, then ``u64 point3D_id, f64 x y z, u8 r g b, f64 error, u64 track_length,
      (u32 image_id, u32 point2D_idx) * track_length``.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from pathlib import Path

from sync4dgs.errors import DataFormatError

QUATERNION_TOL = 1e-2          # as for TXT models: COLMAP writes unit quaternions
MAX_NAME_BYTES = 4096          # an image name longer than this is a damaged record, not a file name
MAX_IMAGE_SIDE = 1 << 20       # pixels


@lru_cache(maxsize=None)
def camera_model_params(model_id: int) -> tuple[str, int] | None:
    """(name, number of parameters) of COLMAP camera model ``model_id``, as pycolmap defines it; None if unknown."""
    from sync4dgs.data.calibrate import import_pycolmap  # noqa: PLC0415

    pycolmap = import_pycolmap()
    known = {int(m): m for m in pycolmap.CameraModelId.__members__.values() if int(m) >= 0}
    if model_id not in known:
        return None
    cam = pycolmap.Camera.create_from_model_id(1, known[model_id], 1.0, 1, 1)
    return known[model_id].name, len(cam.params)


class _Records:
    """A cursor over the bytes of one binary model file; every read past the end is a DataFormatError."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise DataFormatError(path, f"cannot read the file ({e.strerror or e})") from None
        self.pos = 0
        self.what = "the record count"

    def fail(self, reason: str) -> DataFormatError:
        return DataFormatError(self.path, f"{self.what}: {reason}")

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise self.fail(f"the file ends at byte {len(self.data)}, inside this record (truncated?)")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def skip(self, n_bytes: int) -> None:
        if self.pos + n_bytes > len(self.data):
            raise self.fail(f"the file ends at byte {len(self.data)}, inside this record (truncated?)")
        self.pos += n_bytes

    def count(self, min_record_bytes: int, what: str) -> int:
        (n,) = self.take("<Q")
        room = (len(self.data) - self.pos) // min_record_bytes
        if n > room:
            raise self.fail(f"the file says {n} {what} but has room for at most {room} (truncated, or not a "
                            f"COLMAP {self.path.name})")
        return n

    def name(self) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + MAX_NAME_BYTES)
        if end < 0:
            raise self.fail("the image name is not NUL-terminated (damaged record)")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"the image name {raw[:40]!r} is not text (damaged record)") from None
        if not text:
            raise self.fail("empty image name")
        return text

    def finite(self, values: tuple, what: str) -> None:
        if not all(math.isfinite(v) for v in values):
            raise self.fail(f"NaN or Inf in its {what}")

    def unique(self, ids: set[int], value: int, what: str) -> None:
        """Add ``value`` to ``ids``; a DataFormatError if it is already there."""
        if value in ids:
            raise self.fail(f"{what} {value} is {'defined' if what == 'camera id' else 'used'} twice")
        ids.add(value)

    def end(self, n: int, what: str) -> None:
        extra = len(self.data) - self.pos
        if extra:
            self.what = f"after its {n} {what}"
            raise self.fail(f"{extra} unexpected byte(s) (a damaged file, or a count that is too small)")


def check_cameras_bin(path: Path) -> set[int]:
    """Camera ids defined by ``cameras.bin`` (see the module docstring)."""
    r = _Records(path)
    n = r.count(24, "cameras")
    ids: set[int] = set()
    for k in range(n):
        r.what = f"camera record {k + 1} of {n}"
        cam_id, model_id, width, height = r.take("<IiQQ")
        r.what = f"camera record {k + 1} of {n} (camera id {cam_id})"
        model = camera_model_params(model_id)
        if model is None:
            raise r.fail(f"unknown camera model id {model_id}")
        params = r.take(f"<{model[1]}d")
        if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
            raise r.fail(f"image size {width}x{height} is not usable")
        r.finite(params, f"{model[0]} parameters")
        r.unique(ids, cam_id, "camera id")
    r.end(n, "cameras")
    return ids


def check_images_bin(path: Path, camera_ids: set[int]) -> set[int]:
    """Image ids defined by ``images.bin``; each image's pose must be finite with a unit quaternion and its
    camera defined in ``camera_ids``."""
    r = _Records(path)
    n = r.count(4 + 7 * 8 + 4 + 2 + 8, "images")
    ids: set[int] = set()
    for k in range(n):
        r.what = f"image record {k + 1} of {n}"
        (image_id,) = r.take("<I")
        pose = r.take("<7d")
        (cam_id,) = r.take("<I")
        name = r.name()
        r.what = f"image record {k + 1} of {n} (image id {image_id}, {name})"
        (n2d,) = r.take("<Q")
        r.skip(24 * n2d)
        r.finite(pose, "pose")
        norm = math.sqrt(sum(v * v for v in pose[:4]))
        if abs(norm - 1.0) > QUATERNION_TOL:
            raise r.fail(f"quaternion has norm {norm:.4g}, expected a unit rotation quaternion")
        if cam_id not in camera_ids:
            raise r.fail(f"references camera id {cam_id}, which cameras.bin does not define "
                         f"(ids {sorted(camera_ids)[:10]})")
        r.unique(ids, image_id, "image id")
    r.end(n, "images")
    return ids


def check_points3d_bin(path: Path, image_ids: set[int]) -> None:
    """``points3D.bin``: finite positions, unique ids, tracks that reference defined images."""
    r = _Records(path)
    n = r.count(8 + 3 * 8 + 3 + 8 + 8, "points")
    ids: set[int] = set()
    for k in range(n):
        r.what = f"point record {k + 1} of {n}"
        (point_id,) = r.take("<Q")
        r.what = f"point record {k + 1} of {n} (point id {point_id})"
        xyz = r.take("<3d")
        r.take("<3B")
        (error,) = r.take("<d")
        (length,) = r.take("<Q")
        if 8 * length > len(r.data) - r.pos:
            raise r.fail(f"its track of {length} elements runs past the end of the file (truncated?)")
        track = r.take(f"<{2 * length}I")
        r.finite(xyz, "position")
        if not math.isfinite(error):
            raise r.fail("NaN or Inf reprojection error")
        missing = sorted({track[i] for i in range(0, len(track), 2)} - image_ids)
        if missing:
            raise r.fail(f"its track references image id(s) {missing[:5]}, which images.bin does not define")
        r.unique(ids, point_id, "point id")
    r.end(n, "points")


def check_binary_model(model_dir: Path) -> None:
    """Check cameras.bin, images.bin and points3D.bin (when present) of ``model_dir``, if it is a binary model."""
    cameras, images, points = (model_dir / f"{n}.bin" for n in ("cameras", "images", "points3D"))
    if not (cameras.is_file() and images.is_file()):
        return
    camera_ids = check_cameras_bin(cameras)
    if not camera_ids:
        raise DataFormatError(cameras, "defines no camera")
    image_ids = check_images_bin(images, camera_ids)
    if points.is_file():
        check_points3d_bin(points, image_ids)
