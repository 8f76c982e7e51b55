"""Videos or image-sequence folders of a rig the user already calibrated (``prepare --calibration FILE``).

Sources: the video files directly in SRC (camera = file stem) and the sub-folders of SRC holding numbered
images (``cam00/00000.png`` ...; camera = folder name; ``--fps``, default 30). Each source is paired with a
camera of the calibration (:mod:`.calibration.match`: exact name, case-insensitive, camera number) and its
intrinsics are fitted to the source's image size (equal; proportionally scaled; a codec-padding crop of less than
16 px at the bottom/right, kept as is with a warning; else an error).

Distortion: a camera whose distortion moves a pixel by more than 0.1 px (every fisheye camera) is undistorted
once, with the calibration's own model (``cv2.initUndistortRectifyMap`` + remap, i.e. ``cv2.undistort`` with
``newCameraMatrix = K``, or ``cv2.fisheye.initUndistortRectifyMap`` with ``P = K`` for OpenCV's fisheye model:
same pinhole K, principal point kept, no re-centring), into ``frames/<camera>.mp4``
(videos, x264 ``--crf``, timestamps kept, sides cropped to even) or ``frames/<camera>/<i:05d>.png``
(images); the scene stores that pinhole K. Other cameras keep pointing at the original files.

Points: SIFT on each camera's temporal-median image (undistorted), matched and triangulated with the KNOWN
poses (``triangulate_known_poses``; poses untouched). With fewer than ``min_points`` (``--points auto``),
random points in the volume every camera sees (``covisible_points``) are used instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.data.calibrate import Undistortion, write_png
from sync4dgs.data.frames import read_image
from sync4dgs.data.points import PointCloud, covisible_points, triangulate_known_poses
from sync4dgs.data.readers.base import PrepareOptions, RawScene, choose_reference, choose_test_cameras, rel_to_scene
from sync4dgs.data.readers.calibration import Calibration, read_calibration, scene_K
from sync4dgs.data.readers.calibration.match import (fit_intrinsics, match_cameras, max_distortion_px,
                                                     opencv_undistortion)
from sync4dgs.data.readers.colmap import NUMBERED, numbered_frames
from sync4dgs.data.readers.common import check_image_headers, grab_frames
from sync4dgs.data.readers.n3v import camera_sort_key
from sync4dgs.data.readers.videos import (_fit, _undistorted_frames, _undistorted_geometry, find_videos,
                                          median_image, sample_indices)
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.data.video import VideoTiming, downscale_image, video_timing, write_video
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

MAX_DISTORTION_PX = 0.1
DEFAULT_FPS = 30.0


@dataclass
class Source:
    """One camera's frames before calibration: a video (``timing``) or numbered images (``pattern``,
    file numbers ``first .. first + n - 1`` in ``path``). width, height: pixels; start/stop: the kept
    range (video: frame indices; images: file numbers)."""

    name: str
    path: Path
    width: int
    height: int
    start: int
    stop: int
    timing: VideoTiming | None = None
    pattern: str | None = None
    n_total: int = 0

    def frame_paths(self) -> list[Path]:
        return [self.path / self.pattern.format(i) for i in range(self.start, self.stop)]


def image_folders(src: Path) -> list[Path]:
    """Sub-folders of ``src`` holding numbered images (``00000.png`` ...), in camera order."""
    out = [p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")
           and any(NUMBERED.match(f.name) for f in p.iterdir())]
    return sorted(out, key=lambda p: camera_sort_key(p.name))


def source_names(src: Path) -> list[tuple[str, Path]]:
    """(camera name, path) of every video and numbered-image folder in ``src``, in camera order."""
    items = [(p.stem, p) for p in find_videos(src)] + [(p.name, p) for p in image_folders(src)]
    names = [n for n, _ in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataFormatError(src, f"several videos/folders share the camera name(s) {dup}")
    return sorted(items, key=lambda it: camera_sort_key(it[0]))


def _sources(src: Path, opts: PrepareOptions) -> list[Source]:
    """The kept (not excluded) sources, probed: size, frame range, timing."""
    out = []
    for name, path in source_names(src):
        if name in opts.exclude_cameras:
            continue
        if path.is_file():
            timing = video_timing(path)
            start, stop = opts.frames.clip(timing.n_frames) if opts.frames else (0, timing.n_frames)
            if stop <= start:
                raise DataFormatError(path, f"--frames selects no frame (video has {timing.n_frames})")
            out.append(Source(name, path, timing.width, timing.height, start, stop, timing=timing,
                              n_total=timing.n_frames))
        else:
            pattern, first, n = numbered_frames(path, name)
            start, stop = opts.frames.clip(n, first) if opts.frames else (first, first + n)
            if stop <= start:
                raise DataFormatError(path, f"--frames selects none of frames {first}..{first + n - 1}")
            head = read_image(path / pattern.format(start))
            s = Source(name, path, head.shape[1], head.shape[0], start, stop, pattern=pattern, n_total=n)
            check_image_headers(s.frame_paths(), (s.width, s.height))
            out.append(s)
    if len(out) < 2:
        raise DataFormatError(src, f"need at least two cameras (videos or numbered-image folders), found "
                                   f"{[s.name for s in out]}")
    return out


def _median(s: Source, n: int) -> np.ndarray:
    """Per-pixel temporal median of ``n`` frames spread over the kept range, RGB uint8 [H, W, 3]."""
    idx = sample_indices(s.start, s.stop, n)
    if s.timing is not None:
        return median_image(list(grab_frames(s.path, idx).values()))
    return median_image([read_image(s.path / s.pattern.format(i)) for i in idx])


def _write_images(s: Source, und: Undistortion, d: int, folder: Path) -> tuple[int, int]:
    """Undistort (and area-downscale by d) every kept image into folder/<i:05d>.png; returns (w, h)."""
    import cv2  # noqa: PLC0415

    w, h = s.width // d, s.height // d
    for i, p in enumerate(s.frame_paths()):
        img = und.apply(read_image(p))
        write_png(folder / f"{i:05d}.png", cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) if d > 1 else img)
    return w, h


def read_calibrated(src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene:
    """The RawScene of a calibrated rig (see module docstring)."""
    calib: Calibration = read_calibration(opts.calibration, opts.calibration_units)
    calib_cams = {c.name: c for c in calib.cameras}
    pairs = match_cameras(list(calib_cams), [n for n, _ in source_names(src)], calib.path, opts.exclude_cameras)
    sources = _sources(src, opts)
    # every size is checked before any frame is decoded or re-encoded
    fits = {s.name: fit_intrinsics(calib_cams[pairs[s.name][0]], s.width, s.height, calib.path,
                                   f"{'video' if s.timing else 'image folder'} {s.path.name}") for s in sources}
    d = int(opts.downscale)
    cameras, first_images, report, info = [], {}, [], {}
    for s in sources:
        cc, rule = calib_cams[pairs[s.name][0]], pairs[s.name][1]
        K_cv, scale, size_rule = fits[s.name]
        if size_rule == "cropped":
            log.warning("%s: %s is %dx%d, the calibration of %r is for %dx%d: taken as the same pixels with the "
                        "padding cropped at the bottom/right (as H.264 codes 1080 lines as 1088); intrinsics "
                        "unchanged", calib.path, s.path.name, s.width, s.height, cc.name, cc.width, cc.height)
        dist_px = max_distortion_px(K_cv, cc.dist, s.width, s.height, model=cc.model)
        median = _median(s, opts.samples_per_camera)
        fps = s.timing.fps if s.timing else (opts.fps or DEFAULT_FPS)
        tau = None
        if s.timing is not None and not s.timing.constant:
            tau = s.timing.tau_s[s.start:s.stop] - s.timing.tau_s[s.start]
        undistort = dist_px > MAX_DISTORTION_PX
        if undistort:
            und = opencv_undistortion(K_cv, cc.dist, s.width, s.height, cc.model)
            if s.timing is not None:
                K, size, (w, h) = _undistorted_geometry(und, d)
                rel = f"frames/{s.name}.mp4"
                pts = s.timing.tau_s[s.start:s.stop] - s.timing.tau_s[s.start]
                write_video(work / rel, _undistorted_frames(s.path, s.start, s.stop, und, size, (w, h)),
                            fps=fps, pts_s=pts, crf=opts.crf)
                source = FrameSource("video", rel)
                first = _fit(und.apply(median), size, (w, h))
            else:
                w, h = _write_images(s, und, d, work / "frames" / s.name)
                K = und.K.copy()
                K[0] *= w / und.width
                K[1] *= h / und.height
                source = FrameSource("images", f"frames/{s.name}", "{:05d}.png")
                first = _fit(und.apply(median), (w, h), (w, h))
        else:
            if s.width % d or s.height % d:
                raise DataFormatError(s.path, f"--downscale {d} does not divide {s.width}x{s.height}")
            K = scene_K(K_cv)
            K[:2] /= d
            w, h = s.width // d, s.height // d
            if s.timing is not None:
                source = FrameSource("video", rel_to_scene(s.path, out), start=s.start,
                                     stop=s.stop if s.stop < s.n_total else None)
            else:
                source = FrameSource("images", rel_to_scene(s.path, out), s.pattern, start=s.start)
            first = downscale_image(median, d)
        cameras.append(CameraSpec(s.name, w, h, K, cc.R.copy(), cc.t.copy(), fps, s.stop - s.start, source, tau))
        first_images[s.name] = first
        info[s.name] = {"calibration_camera": cc.name, "matched_by": rule,
                        "calibration_size": None if cc.width is None else [cc.width, cc.height],
                        "intrinsics_scale": scale, "size_rule": size_rule, "K_opencv": K_cv.tolist(), "lens_model": cc.model, "distortion": cc.dist.tolist(),
                        "max_distortion_px": dist_px, "undistorted": undistort}
        report.append({"camera": s.name, "calibration": cc.name, "match": rule, "size": f"{w}x{h}",
                       "scale": round(scale, 4), "frames": s.stop - s.start, "fps": round(fps, 3),
                       "dist_px": round(dist_px, 2), "undistorted": undistort})
    points = _points(cameras, first_images, opts, src)
    names = [c.name for c in cameras]
    source_info = {"calibration": {"file": str(calib.path.resolve()), "format": calib.format, "units": calib.units,
                                   "world_frame": calib.world, "convention": "x_cam = R x_world + t (OpenCV)",
                                   "cameras": info, **calib.notes}}
    return RawScene(cameras=cameras, points=points,
                    reference_camera=choose_reference(names, opts.reference, None, src),
                    test_cameras=choose_test_cameras(names, opts.test_cameras, [], src),
                    first_images=first_images, report=report, source=source_info)


def _points(cameras: list[CameraSpec], images: dict[str, np.ndarray], opts: PrepareOptions,
            src: Path) -> PointCloud:
    """Triangulated points with the known poses; random co-visible points when too few (auto) or for
    --points random (whose frustum points ``prepare`` then draws between their depth range)."""
    if opts.points != "random":
        pts = triangulate_known_poses(cameras, images, opts.calibration_options())
        if len(pts) >= opts.min_points or opts.points == "strict":
            return pts
        log.warning("%s: only %d points triangulated with the calibrated poses; using %d random points in the "
                    "volume the cameras see together", src, len(pts), opts.n_random_points)
    return covisible_points(cameras, opts.n_random_points, np.random.default_rng(opts.seed), images)
