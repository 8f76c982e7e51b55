"""An existing COLMAP sparse model (``cameras``, ``images``, ``points3D`` as .bin or .txt) and its images.

Where things are looked for: the model in ``SRC/sparse/0``, ``SRC/sparse`` or ``SRC``; the images in
``SRC/images``, ``SRC/input`` or ``SRC`` (the first folder holding the model's first image).

Two naming conventions are supported:
  * flat (``cam00.png``): each registered image is a static camera with ONE frame, named after the file stem;
  * per camera (``cam00/00000.png``): the sub-folder is the camera; ALL numbered images in
    ``<images>/cam00/`` are its frames (contiguous numbers, e.g. 00000.png, 00001.png, ...), registered or
    not. Every registered image of a camera must share its pose and intrinsics (static cameras).
Mixing both is an error.

Camera models: PINHOLE and SIMPLE_PINHOLE are used as they are (so are models whose distortion moves no
pixel by more than 0.1 px). Other models are undistorted with COLMAP's undistorter (pycolmap
``undistort_camera`` + remap) and the frames are written to ``frames/<camera>/<i:05d>.png`` in the scene.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from sync4dgs.data.calibrate import (import_pycolmap, colmap_camera_to_K, colmap_pose, max_distortion_px,
                                     undistortion_maps, write_png)
from sync4dgs.data.frames import read_image
from sync4dgs.data.points import PointCloud, triangulate_known_poses
from sync4dgs.data.readers.base import (PrepareOptions, RawScene, choose_reference, choose_test_cameras,
                                        escape_format, rel_to_scene)
from sync4dgs.data.readers.colmap_binary import check_binary_model
from sync4dgs.data.readers.colmap_text import check_text_model
from sync4dgs.data.readers.common import check_image_headers, check_rotation
from sync4dgs.data.readers.n3v import camera_sort_key
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.data.video import downscale_image
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

MODEL_DIRS = ("sparse/0", "sparse", ".")
IMAGE_DIRS = ("images", "input", ".")
DEFAULT_FPS = 30.0
MAX_DISTORTION_PX = 0.1
STATIC_ANGLE_DEG, STATIC_REL_DIST = 0.5, 0.01
NUMBERED = re.compile(r"^(\d+)\.(png|jpg|jpeg|PNG|JPG|JPEG)$")


def open_reconstruction(model_dir: Path):
    """pycolmap.Reconstruction of ``model_dir`` after the line-by-line check of text models and the record-by-
    record check of binary models (each error names the file); a model pycolmap still cannot read is a
    DataFormatError naming the folder."""
    pycolmap = import_pycolmap()
    check_text_model(model_dir)
    check_binary_model(model_dir)
    try:
        return pycolmap.Reconstruction(str(model_dir))
    except (ValueError, RuntimeError) as e:
        extra = [n for n in ("rigs.bin", "frames.bin") if (model_dir / n).is_file()]
        hint = f" ({' or '.join(extra)} may be damaged: the other files are well-formed)" if extra else ""
        raise DataFormatError(model_dir, f"cannot read the COLMAP model{hint}: {e}") from e
    except (IndexError, KeyError) as e:     # e.g. an image whose camera id the model does not define
        raise DataFormatError(model_dir, f"inconsistent COLMAP model (an image may reference an undefined "
                                         f"camera): {e}") from e


def find_model_dir(src: Path) -> Path | None:
    for sub in MODEL_DIRS:
        d = src / sub
        for ext in (".bin", ".txt"):
            if (d / f"cameras{ext}").is_file() and (d / f"images{ext}").is_file():
                return d
    return None


def numbered_frames(folder: Path, cam: str) -> tuple[str, int, int]:
    """(pattern, first number, count) of the contiguous numbered images in ``folder``."""
    found = {}
    for p in folder.iterdir() if folder.is_dir() else []:
        m = NUMBERED.match(p.name)
        if m:
            found[int(m.group(1))] = p.name
    if not found:
        raise DataFormatError(folder, f"camera {cam}: no numbered frames (e.g. 00000.png) in its folder")
    nums = sorted(found)
    if nums[-1] - nums[0] + 1 != len(nums):
        gaps = sorted(set(range(nums[0], nums[-1] + 1)) - set(nums))
        raise DataFormatError(folder, f"camera {cam}: frame numbers are not contiguous (missing {gaps[:5]})")
    names = [found[n] for n in nums]
    stems = [Path(n).stem for n in names]
    exts = {Path(n).suffix for n in names}
    if len(exts) != 1:
        raise DataFormatError(folder, f"camera {cam}: frames mix file types {sorted(exts)}")
    ext = exts.pop()
    if len({len(s) for s in stems}) == 1:
        pattern = "{:0" + str(len(stems[0])) + "d}" + ext
    elif all(s == str(int(s)) for s in stems):
        pattern = "{:d}" + ext
    else:
        raise DataFormatError(folder, f"camera {cam}: frame names mix zero-padded and plain numbers")
    return pattern, nums[0], len(nums)


class ColmapReader:
    name = "colmap"

    def detect(self, src: Path) -> str | None:
        if find_model_dir(src) is not None:
            return None
        return "a COLMAP model (cameras/images/points3D .bin or .txt) in sparse/0, sparse or the folder itself"

    def read(self, src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene:
        model_dir = find_model_dir(src)
        if model_dir is None:
            raise DataFormatError(src, "no COLMAP model found")
        rec = open_reconstruction(model_dir)
        images = sorted((im for im in rec.images.values() if im.has_pose), key=lambda im: im.name)
        if not images:
            raise DataFormatError(model_dir, "the model has no registered images")
        img_dir = next((src / d for d in IMAGE_DIRS if (src / d / images[0].name).is_file()), None)
        if img_dir is None:
            raise DataFormatError(src, f"image {images[0].name} of the model not found in {list(IMAGE_DIRS)}")
        nested = {"/" in im.name for im in images}
        if len(nested) > 1:
            raise DataFormatError(model_dir, "image names mix 'cam.png' and 'cam/frame.png' conventions")
        nested_layout = nested.pop()
        groups: dict[str, list] = defaultdict(list)
        for im in images:
            groups[im.name.rsplit("/", 1)[0] if nested_layout else Path(im.name).stem].append(im)
        centers = np.stack([im.projection_center() for im in images])
        extent = float(np.linalg.norm(centers - centers.mean(0), axis=1).max()) or 1.0
        fps = opts.fps or DEFAULT_FPS
        d = int(opts.downscale)
        cameras, first_images, report = [], {}, []
        for name in sorted(groups, key=camera_sort_key):
            if name in opts.exclude_cameras:
                continue
            ims = groups[name]
            R, t = _static_pose(ims, extent, model_dir, name)
            cam_ids = {im.camera_id for im in ims}
            if len(cam_ids) > 1 and len({tuple(rec.cameras[i].params) for i in cam_ids}) > 1:
                raise DataFormatError(model_dir, f"camera {name}: its images use different intrinsics "
                                                 f"{sorted(cam_ids)}")
            ccam = rec.cameras[ims[0].camera_id]
            if nested_layout:
                folder = img_dir / name
                pattern, first, n = numbered_frames(folder, name)
                if opts.frames is not None:
                    a, b = opts.frames.clip(n, first)
                    if b <= a:
                        raise DataFormatError(folder, f"--frames selects none of frames {first}..{first + n - 1}")
                    first, n = a, b - a
            else:
                folder, first, n = img_dir / Path(ims[0].name).parent, 0, 1
                pattern = escape_format(Path(ims[0].name).name)
            paths = [folder / pattern.format(first + i) for i in range(n)]
            check_image_headers(paths, (ccam.width, ccam.height))
            if ccam.model_name not in ("PINHOLE", "SIMPLE_PINHOLE") and max_distortion_px(ccam) > MAX_DISTORTION_PX:
                K, w, h, rel = _write_undistorted(ccam, paths, work / "frames" / name, d)
                source = FrameSource("images", f"frames/{name}", "{:05d}.png")
                first_img = read_image(work / rel)
            else:
                if ccam.width % d or ccam.height % d:
                    raise DataFormatError(paths[0], f"--downscale {d} does not divide {ccam.width}x{ccam.height}")
                K = colmap_camera_to_K(ccam)
                K[:2] /= d
                w, h = ccam.width // d, ccam.height // d
                source = FrameSource("images", rel_to_scene(folder, out), pattern, start=first)
                first_img = downscale_image(read_image(paths[0]), d)
            cameras.append(CameraSpec(name, w, h, K, R, t, fps, n, source))
            first_images[name] = first_img
            report.append({"camera": name, "model": ccam.model_name, "size": f"{w}x{h}", "frames": n,
                           "registered_images": len(ims)})
        if not cameras:
            raise DataFormatError(src, "every camera was excluded")
        pts = [p for p in rec.points3D.values()]
        points = PointCloud(np.array([p.xyz for p in pts], dtype=np.float64).reshape(-1, 3),
                            np.array([p.color for p in pts], dtype=np.uint8).reshape(-1, 3), "colmap_model")
        if len(points) < opts.min_points and opts.points != "random":
            log.warning("%s: the model has only %d points; triangulating SIFT matches with its poses",
                        model_dir, len(points))
            points = triangulate_known_poses(cameras, first_images, opts.calibration_options())
        names = [c.name for c in cameras]
        return RawScene(cameras=cameras, points=points,
                        reference_camera=choose_reference(names, opts.reference, None, src),
                        test_cameras=choose_test_cameras(names, opts.test_cameras, [], src), first_images=first_images,
                        report=report, source={"model": str(model_dir.resolve()),
                                               "layout": "per_camera" if nested_layout else "flat"})


def _static_pose(ims: list, extent: float, where: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Pose of a static camera: the first image's; DataFormatError if the other images disagree."""
    R0, t0 = colmap_pose(ims[0])
    R0 = check_rotation(R0, where, f"camera {name}")
    c0 = -R0.T @ t0
    for im in ims[1:]:
        R, t = colmap_pose(im)
        ang = np.degrees(np.arccos(np.clip((np.trace(R @ R0.T) - 1) / 2, -1, 1)))
        dist = float(np.linalg.norm(-R.T @ t - c0))
        if ang > STATIC_ANGLE_DEG or dist > STATIC_REL_DIST * extent:
            raise DataFormatError(where, f"camera {name} moves between its images ({ims[0].name} vs {im.name}: "
                                         f"{ang:.2f} deg, {dist:.3g} units); sync4dgs needs static cameras")
    return R0, t0


def _write_undistorted(ccam, paths: list[Path], folder: Path, d: int) -> tuple[np.ndarray, int, int, str]:
    """Undistort every frame into folder/<i:05d>.png; returns (K, width, height, first frame path rel. to scene)."""
    und = undistortion_maps(ccam)
    w, h = und.width // d, und.height // d
    K = und.K.copy()
    K[0] *= w / und.width
    K[1] *= h / und.height
    import cv2  # noqa: PLC0415

    for i, p in enumerate(paths):
        img = und.apply(read_image(p))
        if d > 1:
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        write_png(folder / f"{i:05d}.png", img)
    log.info("undistorted %d frame(s) of a %s camera into %s", len(paths), ccam.model_name, folder)
    return K, w, h, f"frames/{folder.name}/00000.png"
