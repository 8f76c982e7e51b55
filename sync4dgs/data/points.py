"""The scene's initial point cloud (``points3d.ply``): I/O, triangulation from known poses, fallback.

``points3d.ply`` holds a binary PLY "vertex" element with float32 ``x, y, z`` (scene units, i.e. after
normalisation), ``nx, ny, nz`` (zeros; present because the 3DGS loaders expect them) and uint8
``red, green, blue``.

Triangulation with KNOWN poses (no SfM): SIFT on one image per camera, exhaustive matching, then
``pycolmap.triangulate_points`` on a reconstruction holding our fixed cameras (recipe of
/work/shared/reference/libraries.md §3, "known poses"). Poses and intrinsics are never changed.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.data.calibrate import (CalibrationOptions, extraction_options, import_pycolmap, match_all_pairs,
                                     quiet_colmap, write_png)
from sync4dgs.data.scene import CameraSpec
from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)


@dataclass
class PointCloud:
    """xyz: float64 [N, 3] world (or scene) coordinates; rgb: uint8 [N, 3]; method: how it was made."""

    xyz: np.ndarray
    rgb: np.ndarray
    method: str = "unknown"

    def __len__(self) -> int:
        return len(self.xyz)


# ---- PLY I/O ---------------------------------------------------------------------------------------
def save_points(path: str | Path, xyz: np.ndarray, rgb: np.ndarray) -> Path:
    """Write points as a binary PLY (atomically). Raises DataFormatError on empty or non-finite input."""
    from plyfile import PlyData, PlyElement  # noqa: PLC0415

    path = Path(path)
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    rgb = np.asarray(rgb).reshape(-1, 3)
    if len(xyz) == 0:
        raise DataFormatError(path, "refusing to write an empty point cloud")
    if len(rgb) != len(xyz):
        raise DataFormatError(path, f"{len(xyz)} points but {len(rgb)} colours")
    if not np.all(np.isfinite(xyz)):
        raise DataFormatError(path, "point cloud contains NaN or Inf coordinates")
    dtype = [(k, "f4") for k in ("x", "y", "z", "nx", "ny", "nz")] + [(k, "u1") for k in ("red", "green", "blue")]
    arr = np.zeros(len(xyz), dtype=dtype)
    arr["x"], arr["y"], arr["z"] = xyz.T.astype(np.float32)
    arr["red"], arr["green"], arr["blue"] = np.clip(rgb, 0, 255).astype(np.uint8).T
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(arr, "vertex")], text=False).write(str(tmp))
    return path


def load_points(path: str | Path) -> PointCloud:
    """Read a PLY point cloud: xyz float64 [N, 3], rgb uint8 [N, 3] (grey if it has no colours).

    Raises DataFormatError if the file is missing, not a PLY, has no vertices or non-finite ones.
    """
    from plyfile import PlyData, PlyParseError  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "point cloud file not found")
    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"]
        xyz = np.stack([np.asarray(v[k], dtype=np.float64) for k in ("x", "y", "z")], 1)
    except (PlyParseError, ValueError, KeyError, IndexError, OSError) as e:  # malformed files
        raise DataFormatError(path, f"not a readable PLY point cloud: {e}") from e
    names = v.data.dtype.names
    if all(k in names for k in ("red", "green", "blue")):
        rgb = np.stack([np.asarray(v[k]) for k in ("red", "green", "blue")], 1).astype(np.uint8)
    else:
        rgb = np.full((len(xyz), 3), 128, np.uint8)
    if len(xyz) == 0:
        raise DataFormatError(path, "point cloud is empty")
    if not np.all(np.isfinite(xyz)):
        raise DataFormatError(path, "point cloud contains NaN or Inf coordinates")
    return PointCloud(xyz, rgb, "file")


# ---- geometry helpers ------------------------------------------------------------------------------
def depths_in_view(cam: CameraSpec, xyz: np.ndarray) -> np.ndarray:
    """Depths (camera z, world units) of the points [N, 3] that lie in front of ``cam`` and inside its image."""
    xc = xyz @ cam.R.T + cam.t
    z = xc[:, 2]
    front = z > 1e-9
    uv = xc[front] @ cam.K.T
    uv = uv[:, :2] / uv[:, 2:3]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= cam.height)
    return z[front][inside]


def near_far_from_points(cameras: list[CameraSpec], xyz: np.ndarray,
                         margin: float = 1.25) -> tuple[float, float] | None:
    """Depth range covering the points seen by the cameras: (1st percentile / margin, 99th * margin).

    Returns None when no point is visible in any camera.
    """
    d = np.concatenate([depths_in_view(c, xyz) for c in cameras]) if cameras else np.zeros(0)
    if len(d) == 0:
        return None
    return float(np.percentile(d, 1) / margin), float(np.percentile(d, 99) * margin)


def random_points_in_frusta(cameras: list[CameraSpec], near: float, far: float, n: int,
                            rng: np.random.Generator, images: dict[str, np.ndarray] | None = None) -> PointCloud:
    """``n`` points drawn uniformly over the cameras' image planes and uniformly in inverse depth between
    ``near`` and ``far`` (world units). Colours come from ``images[cam.name]`` (RGB uint8 [H, W, 3] at the
    camera's size) where given, else mid-grey."""
    if not cameras or n <= 0 or not (0 < near < far):
        raise ValueError("random_points_in_frusta needs cameras, n > 0 and 0 < near < far")
    which = rng.integers(0, len(cameras), n)
    xyz = np.zeros((n, 3))
    rgb = np.full((n, 3), 128, np.uint8)
    for k, cam in enumerate(cameras):
        sel = np.flatnonzero(which == k)
        if len(sel) == 0:
            continue
        u = rng.uniform(0, cam.width, len(sel))
        v = rng.uniform(0, cam.height, len(sel))
        inv = rng.uniform(1.0 / far, 1.0 / near, len(sel))
        rays = np.stack([u, v, np.ones_like(u)], 1) @ np.linalg.inv(cam.K).T
        xc = rays / inv[:, None]
        xyz[sel] = (xc - cam.t) @ cam.R  # R^T (xc - t)
        img = None if images is None else images.get(cam.name)
        if img is not None and img.shape[:2] == (cam.height, cam.width):
            rgb[sel] = img[np.minimum(v.astype(int), cam.height - 1), np.minimum(u.astype(int), cam.width - 1)]
    return PointCloud(xyz, rgb, "random_frustum")


def _in_views(cameras: list[CameraSpec], xyz: np.ndarray) -> np.ndarray:
    """bool [C, N]: point n lies in front of camera c and inside its image."""
    out = np.zeros((len(cameras), len(xyz)), bool)
    for k, cam in enumerate(cameras):
        xc = xyz @ cam.R.T + cam.t
        z = xc[:, 2]
        uv = (xc / np.where(z > 1e-9, z, 1.0)[:, None]) @ cam.K.T
        out[k] = (z > 1e-9) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    return out


def covisible_points(cameras: list[CameraSpec], n: int, rng: np.random.Generator,
                     images: dict[str, np.ndarray] | None = None, batch: int = 20000,
                     max_rounds: int = 50) -> PointCloud:
    """``n`` random points in the volume that ALL the cameras see together (the fallback of calibrated rigs).

    Candidates: rays through uniform pixels of a random camera, uniform in inverse depth between
    ``0.02 r`` and ``50 r`` (r: the largest distance of a camera centre from their mean; 1 if co-located),
    in world units. A candidate is kept when it is in front of and inside the image of every camera; if
    ``max_rounds`` batches of ``batch`` candidates give fewer than ``n``, the requirement drops to one camera
    fewer (down to 2) and sampling goes on. Colours: the mean, over the cameras that see the point, of
    ``images[name]`` (RGB uint8 [H, W, 3] at the camera's size) at its projection; mid-grey without images.
    Returns xyz float64 [n', 3], method ``covisible_random``; n' < n when even the last requirement (two
    cameras, or all of them for a pair) did not find n points in ``max_rounds`` batches (a real 2-camera rig
    with a wide baseline: ~8000 of 20000).
    """
    if len(cameras) < 1 or n <= 0:
        raise ValueError("covisible_points needs cameras and n > 0")
    centers = np.stack([c.center for c in cameras])
    r = float(np.linalg.norm(centers - centers.mean(0), axis=1).max()) or 1.0
    need, kept = len(cameras), []
    total = 0
    while total < n:
        for _ in range(max_rounds):
            cam = cameras[int(rng.integers(len(cameras)))]
            u, v = rng.uniform(0, cam.width, batch), rng.uniform(0, cam.height, batch)
            inv = rng.uniform(1.0 / (50 * r), 1.0 / (0.02 * r), batch)
            xc = (np.stack([u, v, np.ones_like(u)], 1) @ np.linalg.inv(cam.K).T) / inv[:, None]
            xyz = (xc - cam.t) @ cam.R
            good = xyz[_in_views(cameras, xyz).sum(0) >= need]
            kept.append(good[: n - total])
            total += len(kept[-1])
            if total >= n:
                break
        if total >= n or need <= 2:
            break
        need -= 1
    xyz = np.concatenate(kept) if kept else np.zeros((0, 3))
    rgb = np.full((len(xyz), 3), 128.0)
    if images and len(xyz):
        acc, cnt = np.zeros((len(xyz), 3)), np.zeros(len(xyz))
        vis = _in_views(cameras, xyz)
        for k, cam in enumerate(cameras):
            img = images.get(cam.name)
            if img is None or img.shape[:2] != (cam.height, cam.width):
                continue
            uv = cam.project(xyz[vis[k]])
            px = np.clip(uv.astype(int), 0, [cam.width - 1, cam.height - 1])
            acc[vis[k]] += img[px[:, 1], px[:, 0]]
            cnt[vis[k]] += 1
        seen = cnt > 0
        rgb[seen] = acc[seen] / cnt[seen, None]
    log.info("%d random points in the volume seen by %d of %d cameras", len(xyz), need, len(cameras))
    return PointCloud(xyz, rgb.round().astype(np.uint8), "covisible_random")


# ---- triangulation with known poses ----------------------------------------------------------------
def triangulate_known_poses(cameras: list[CameraSpec], images: dict[str, np.ndarray],
                            opts: CalibrationOptions | None = None) -> PointCloud:
    """Sparse points from SIFT matches between the given views, triangulated with the cameras' fixed poses.

    Args:
        cameras: calibrated pinhole cameras (world-to-camera R/t, K in pixels).
        images: one RGB uint8 [H, W, 3] image per camera name, at the camera's width x height
            (all captured at the same instant, e.g. frame 0 of a synchronized rig).
    Returns:
        PointCloud (possibly empty) with colours sampled by COLMAP from the images.
    """
    pycolmap = import_pycolmap()
    opts = opts or CalibrationOptions()
    cams = [c for c in cameras if c.name in images]
    if len(cams) < 2:
        return PointCloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), "triangulated")
    by_file = {f"{c.name}.png": c for c in cams}
    with tempfile.TemporaryDirectory(prefix="sync4dgs_tri_") as tmp, quiet_colmap(opts.verbose):
        tmp = Path(tmp)
        for fn, c in by_file.items():
            img = images[c.name]
            if img.shape[:2] != (c.height, c.width):
                raise ValueError(f"image of {c.name} is {img.shape[1]}x{img.shape[0]}, camera is {c.width}x{c.height}")
            write_png(tmp / "images" / fn, img)
        db_path = tmp / "db.db"
        # extract with placeholder intrinsics, then store each camera's true K before matching so that
        # geometric verification uses the calibrated (essential-matrix) model
        pycolmap.extract_features(db_path, tmp / "images", image_names=sorted(by_file),
                                  camera_mode=pycolmap.CameraMode.PER_IMAGE,
                                  reader_options=pycolmap.ImageReaderOptions(camera_model="PINHOLE"),
                                  extraction_options=extraction_options(opts), device=pycolmap.Device.cpu)
        db = pycolmap.Database.open(db_path)
        try:
            db_images = db.read_all_images()
            for im in db_images:
                c = by_file[im.name]
                dbcam = db.read_camera(im.camera_id)
                dbcam.params = [c.K[0, 0], c.K[1, 1], c.K[0, 2], c.K[1, 2]]
                dbcam.has_prior_focal_length = True
                db.update_camera(dbcam)
            db_cameras = db.read_all_cameras()
        finally:
            db.close()
        match_all_pairs(db_path, opts)
        rec = pycolmap.Reconstruction()
        for dbcam in db_cameras:
            rec.add_camera_with_trivial_rig(dbcam)
        for im in db_images:
            c = by_file[im.name]
            pose = pycolmap.Rigid3d(pycolmap.Rotation3d(np.asarray(c.R, dtype=np.float64)),
                                    np.asarray(c.t, dtype=np.float64))
            image = pycolmap.Image(name=im.name, camera_id=im.camera_id, image_id=im.image_id)
            rec.add_image_with_trivial_frame(image, pose)
        (tmp / "tri").mkdir()
        mapper = pycolmap.IncrementalPipelineOptions()
        mapper.num_threads = opts.num_threads
        out = pycolmap.triangulate_points(rec, db_path, tmp / "images", tmp / "tri", options=mapper)
        pts = list(out.points3D.values())
        xyz = np.array([p.xyz for p in pts], dtype=np.float64).reshape(-1, 3)
        rgb = np.array([p.color for p in pts], dtype=np.uint8).reshape(-1, 3)
    log.info("triangulated %d points from %d views with known poses", len(xyz), len(cams))
    return PointCloud(xyz, rgb, "triangulated")
