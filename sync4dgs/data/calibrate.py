"""Camera calibration of a static rig with pycolmap SfM, and the pycolmap glue shared by the readers.

The ``videos`` reader calls :func:`calibrate_static_cameras` with ONE image per camera (the temporal median
of frames sampled over the video: the static background survives, moving objects vanish, and a static
camera gets no zero-baseline duplicates that would confuse SfM). The result is expressed in OpenCV
conventions (K in pixels with pixel centres at +0.5, world-to-camera R/t), plus the lens distortion that
:func:`undistortion_maps` removes.

pycolmap 4.2.1 API (see /work/shared/reference/libraries.md §3): ``image.cam_from_world()`` is a method;
logs go to glog (silenced below INFO unless ``verbose``).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

PINHOLE_MODELS = ("SIMPLE_PINHOLE", "PINHOLE")


def import_pycolmap():
    try:
        import pycolmap  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise DataFormatError(None, "calibration/triangulation needs pycolmap: pip install pycolmap==4.2.1") from e
    return pycolmap


@contextlib.contextmanager
def quiet_colmap(verbose: bool = False) -> Iterator[None]:
    """Raise glog's minimum level to WARNING inside the block (COLMAP prints thousands of INFO lines)."""
    pycolmap = import_pycolmap()
    old = pycolmap.logging.minloglevel
    if not verbose:
        pycolmap.logging.minloglevel = 1
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = old


def write_png(path: Path, img: np.ndarray) -> None:
    """Write an RGB uint8 [H, W, 3] image as PNG."""
    import cv2  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1])):
        raise OSError(f"cannot write {path}")


def colmap_camera_to_K(cam) -> np.ndarray:
    """[3, 3] pixel intrinsics of a pycolmap camera (focal lengths and principal point only)."""
    K = np.eye(3)
    K[0, 0], K[1, 1] = cam.focal_length_x, cam.focal_length_y
    K[0, 2], K[1, 2] = cam.principal_point_x, cam.principal_point_y
    return K


def copy_camera(cam):
    """A standalone copy of a pycolmap camera (safe to keep after its reconstruction is gone)."""
    pycolmap = import_pycolmap()
    out = pycolmap.Camera.create_from_model_name(int(cam.camera_id), cam.model_name, 1.0, cam.width, cam.height)
    out.params = np.asarray(cam.params, dtype=np.float64)
    return out


def make_camera(model: str, width: int, height: int, params) -> object:
    """A pycolmap camera from a model name, size and parameter list (COLMAP order)."""
    pycolmap = import_pycolmap()
    out = pycolmap.Camera.create_from_model_name(1, model, 1.0, int(width), int(height))
    out.params = np.asarray(params, dtype=np.float64)
    return out


def colmap_pose(image) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera (R [3, 3], t [3]) of a registered pycolmap image."""
    T = image.cam_from_world()
    return np.asarray(T.rotation.matrix(), dtype=np.float64), np.asarray(T.translation, dtype=np.float64)


def max_distortion_px(cam, n: int = 21) -> float:
    """Largest displacement (pixels) that the camera's lens distortion causes on an n x n grid of the image."""
    pycolmap = import_pycolmap()
    if cam.model_name in PINHOLE_MODELS:
        return 0.0
    u, v = np.meshgrid(np.linspace(0.5, cam.width - 0.5, n), np.linspace(0.5, cam.height - 0.5, n))
    px = np.stack([u.ravel(), v.ravel()], 1)
    pin = pycolmap.Camera.create_from_model_name(0, "PINHOLE", 1.0, cam.width, cam.height)
    pin.params = [cam.focal_length_x, cam.focal_length_y, cam.principal_point_x, cam.principal_point_y]
    rays = np.c_[pin.cam_from_img(px), np.ones(len(px))]
    return float(np.abs(cam.img_from_cam(rays) - px).max())


@dataclass
class Undistortion:
    """cv2.remap maps that turn a distorted image into a pinhole one.

    map_x, map_y: float32 [H', W'] source pixel coordinates (cv2 convention, pixel centres at integers);
    K: [3, 3] intrinsics of the undistorted image (pixel centres at +0.5); width, height: its size.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    K: np.ndarray
    width: int
    height: int

    def apply(self, img: np.ndarray) -> np.ndarray:
        import cv2  # noqa: PLC0415

        return cv2.remap(img, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def undistortion_maps(cam) -> Undistortion:
    """Pinhole camera chosen by COLMAP's undistorter (valid pixels only) and the remap tables to it."""
    pycolmap = import_pycolmap()
    new = pycolmap.undistort_camera(pycolmap.UndistortCameraOptions(), cam)
    u, v = np.meshgrid(np.arange(new.width) + 0.5, np.arange(new.height) + 0.5)
    px = np.stack([u.ravel(), v.ravel()], 1)
    rays = np.c_[new.cam_from_img(px), np.ones(len(px))]
    src = cam.img_from_cam(rays, check_cheirality=False) - 0.5
    maps = src.reshape(new.height, new.width, 2).astype(np.float32)
    return Undistortion(np.ascontiguousarray(maps[..., 0]), np.ascontiguousarray(maps[..., 1]),
                        colmap_camera_to_K(new), int(new.width), int(new.height))


@dataclass
class CalibrationOptions:
    """SfM settings.

    camera_model: "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL" or "OPENCV" (distortion is removed later).
    shared_intrinsics: one camera model for all views (same device) or one per view (different phones).
    max_features: SIFT features per image; max_image_size: SIFT works on images downscaled to this side.
    num_threads: CPU threads for COLMAP.
    """

    camera_model: str = "SIMPLE_RADIAL"
    shared_intrinsics: bool = False
    max_features: int = 8192
    max_image_size: int = 1600
    num_threads: int = 2
    verbose: bool = False


@dataclass
class CalibratedCamera:
    """One calibrated view: ``K`` [3, 3] px (distortion not included), world-to-camera ``R``/``t``,
    the pycolmap camera (with distortion) in ``colmap_camera``, and the view's mean reprojection error
    (px) over its ``n_observations`` triangulated keypoints."""

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    colmap_camera: object
    reprojection_error_px: float
    n_observations: int


@dataclass
class CalibrationResult:
    """Calibrated views keyed by name, and the sparse points: xyz [N, 3] float64, rgb [N, 3] uint8."""

    cameras: dict[str, CalibratedCamera]
    xyz: np.ndarray
    rgb: np.ndarray


def per_image_reprojection(rec, image) -> tuple[float, int]:
    """Mean reprojection error (px) and number of the image's keypoints that have a 3D point."""
    errs = []
    for p2 in image.points2D:
        if p2.has_point3D():
            proj = image.project_point(rec.points3D[p2.point3D_id].xyz)
            if proj is not None:
                errs.append(float(np.linalg.norm(np.asarray(proj) - np.asarray(p2.xy))))
    return (float(np.mean(errs)) if errs else float("nan")), len(errs)


def extraction_options(opts: CalibrationOptions):
    """pycolmap SIFT extraction options for these settings."""
    pycolmap = import_pycolmap()
    ext = pycolmap.FeatureExtractionOptions()
    ext.num_threads = opts.num_threads
    ext.max_image_size = opts.max_image_size
    ext.sift.max_num_features = opts.max_features
    return ext


def match_all_pairs(db: Path, opts: CalibrationOptions) -> None:
    """Exhaustive SIFT matching with geometric verification, on the CPU."""
    pycolmap = import_pycolmap()
    match = pycolmap.FeatureMatchingOptions()
    match.num_threads = opts.num_threads
    pycolmap.match_exhaustive(db, matching_options=match, device=pycolmap.Device.cpu)


def extract_and_match(db: Path, img_dir: Path, names: list[str], opts: CalibrationOptions,
                      camera_model: str, single: bool = False) -> None:
    """SIFT features of the named images (one camera each, or one shared with ``single``), then matching."""
    pycolmap = import_pycolmap()
    reader = pycolmap.ImageReaderOptions(camera_model=camera_model)
    mode = pycolmap.CameraMode.SINGLE if single else pycolmap.CameraMode.PER_IMAGE
    pycolmap.extract_features(db, img_dir, image_names=names, camera_mode=mode, reader_options=reader,
                              extraction_options=extraction_options(opts), device=pycolmap.Device.cpu)
    match_all_pairs(db, opts)


def calibrate_static_cameras(images: dict[str, np.ndarray], opts: CalibrationOptions | None = None,
                             where: str | Path | None = None) -> CalibrationResult:
    """Recover intrinsics and poses of static cameras from one RGB uint8 [H, W, 3] image per camera.

    Runs SIFT + exhaustive matching + incremental mapping and keeps the model that registers the most
    views. Raises DataFormatError (naming ``where`` and the cameras) if fewer than two views register or
    if any view does not register (a camera without a pose cannot be used).
    """
    pycolmap = import_pycolmap()
    opts = opts or CalibrationOptions()
    if len(images) < 2:
        raise DataFormatError(where, f"calibration needs at least 2 cameras, got {len(images)}")
    with tempfile.TemporaryDirectory(prefix="sync4dgs_sfm_") as tmp, quiet_colmap(opts.verbose):
        tmp = Path(tmp)
        names = {f"{n}.png": n for n in images}
        for fn, n in names.items():
            write_png(tmp / "images" / fn, images[n])
        extract_and_match(tmp / "db.db", tmp / "images", sorted(names), opts, opts.camera_model,
                           single=opts.shared_intrinsics)
        mapper = pycolmap.IncrementalPipelineOptions()
        mapper.num_threads = opts.num_threads
        mapper.random_seed = 0
        (tmp / "sparse").mkdir()
        recs = pycolmap.incremental_mapping(tmp / "db.db", tmp / "images", tmp / "sparse", options=mapper)
        if not recs:
            raise DataFormatError(where, f"SfM could not register any pair of cameras among {sorted(images)} "
                                         "(too little overlap or texture between the views)")
        rec = max(recs.values(), key=lambda r: r.num_reg_images())
        cams: dict[str, CalibratedCamera] = {}
        for image in rec.images.values():
            if not image.has_pose:
                continue
            R, t = colmap_pose(image)
            err, nobs = per_image_reprojection(rec, image)
            ccam = copy_camera(rec.cameras[image.camera_id])
            n = names[image.name]
            cams[n] = CalibratedCamera(n, colmap_camera_to_K(ccam), R, t, ccam, err, nobs)
        unregistered = sorted(set(images) - set(cams))
        if unregistered:
            raise DataFormatError(where, f"cameras that did not register in SfM: {unregistered} "
                                         f"(registered: {sorted(cams)}); they may not overlap the others, "
                                         "have too little static texture, or be blurred")
        pts = list(rec.points3D.values())
        xyz = np.array([p.xyz for p in pts], dtype=np.float64).reshape(-1, 3)
        rgb = np.array([p.color for p in pts], dtype=np.uint8).reshape(-1, 3)
    log.info("SfM registered %d cameras, %d points", len(cams), len(xyz))
    return CalibrationResult(cams, xyz, rgb)
