"""A folder of unsynchronized videos from static cameras, without calibration (e.g. a few phones on tripods).

With ``--calibration FILE`` (``PrepareOptions.calibration``) the rig's own calibration is used instead of
SfM, and numbered-image folders are accepted too: see :mod:`sync4dgs.data.readers.calibrated`.

Timing: every frame keeps its container timestamp (phones record variable frame rate): if a video's
frames are not on a regular 1/fps grid, the camera gets ``frame_times_s``.

Calibration: for each camera, ``samples_per_camera`` frames spread over the kept range are decoded and
their per-pixel temporal MEDIAN is taken. The static background dominates every pixel over time, so the
median shows the background with moving objects removed, and each static camera contributes exactly one
image (several frames of one static camera would be zero-baseline duplicates, useless to SfM).
These median images go through pycolmap SIFT + exhaustive matching + incremental mapping, with one
camera model per video (``shared_intrinsics`` for identical devices). Every camera must register, else a
DataFormatError names the ones that did not. Per-camera reprojection errors are reported and stored in
``scene.json`` (``source.calibration``).

Distortion: with a distortion model (SIMPLE_RADIAL by default), cameras whose distortion moves a pixel by
more than 0.1 px are undistorted and their kept frames re-encoded (x264, ``crf``, timestamps preserved)
into ``frames/<camera>.mp4`` inside the scene; the others keep pointing at the original video.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from sync4dgs.data.calibrate import Undistortion, calibrate_static_cameras, max_distortion_px, undistortion_maps
from sync4dgs.data.points import PointCloud
from sync4dgs.data.readers.base import PrepareOptions, RawScene, choose_reference, choose_test_cameras, rel_to_scene
from sync4dgs.data.readers.common import grab_frames
from sync4dgs.data.video import VideoTiming, video_timing
from sync4dgs.data.readers.n3v import camera_sort_key
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.data.video import downscale_image, iter_video_frames, write_video
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mts")
MAX_DISTORTION_PX = 0.1


def find_videos(src: Path) -> list[Path]:
    """Video files directly inside ``src``, in camera order (camXX index, then name)."""
    vids = [p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")]
    return sorted(vids, key=lambda p: camera_sort_key(p.stem))


def median_image(frames: list[np.ndarray]) -> np.ndarray:
    """Per-pixel temporal median of RGB uint8 frames [H, W, 3] -> uint8 [H, W, 3]."""
    return np.median(np.stack(frames), axis=0).round().astype(np.uint8)


def sample_indices(start: int, stop: int, n: int) -> list[int]:
    """Up to ``n`` frame indices spread evenly over [start, stop)."""
    return sorted(set(np.linspace(start, stop - 1, max(1, min(n, stop - start))).round().astype(int).tolist()))


class VideosReader:
    name = "videos"

    def detect(self, src: Path) -> str | None:
        from sync4dgs.data.readers.calibrated import image_folders  # noqa: PLC0415

        if len(find_videos(src)) + len(image_folders(src)) >= 2:
            return None
        return (f"at least two video files ({', '.join(VIDEO_EXTS)}) directly in the folder (or, with "
                "--calibration, sub-folders of numbered images)")

    def read(self, src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene:
        from sync4dgs.data.readers.calibrated import image_folders, read_calibrated  # noqa: PLC0415

        if opts.calibration is not None:
            return read_calibrated(src, work, out, opts)
        folders = image_folders(src)
        if folders:
            raise DataFormatError(src, f"image-sequence folders {[p.name for p in folders]} need the rig's "
                                       "calibration: pass --calibration FILE (videos alone are calibrated by SfM)")
        found = find_videos(src)
        stems = [p.stem for p in found]
        dup = sorted({n for n in stems if stems.count(n) > 1})
        if dup:
            raise DataFormatError(src, f"several videos share the camera name(s) {dup} (file name without extension)")
        vids = {p.stem: p for p in found if p.stem not in opts.exclude_cameras}
        if len(vids) < 2:
            raise DataFormatError(src, f"need at least two videos to calibrate, found {sorted(vids)}")
        timings: dict[str, VideoTiming] = {}
        ranges: dict[str, tuple[int, int]] = {}
        medians: dict[str, np.ndarray] = {}
        for name, path in vids.items():
            timing = video_timing(path)
            start, stop = opts.frames.clip(timing.n_frames) if opts.frames else (0, timing.n_frames)
            if stop <= start:
                raise DataFormatError(path, f"--frames selects no frame (video has {timing.n_frames})")
            grabbed = grab_frames(path, sample_indices(start, stop, opts.samples_per_camera))
            timings[name], ranges[name], medians[name] = timing, (start, stop), median_image(list(grabbed.values()))
            log.info("%s: %dx%d, %d frames, %.3f fps%s", path.name, timing.width, timing.height, timing.n_frames,
                     timing.fps, "" if timing.constant else " (variable frame rate)")
        calib = calibrate_static_cameras(medians, opts.calibration_options(), where=src)
        d = int(opts.downscale)
        cameras, first_images, report, calib_info = [], {}, [], {}
        for name in vids:
            cc, timing, (start, stop) = calib.cameras[name], timings[name], ranges[name]
            dist = max_distortion_px(cc.colmap_camera)
            tau = timing.tau_s[start:stop] - timing.tau_s[start]
            if dist > MAX_DISTORTION_PX:
                und = undistortion_maps(cc.colmap_camera)
                K, size, (w, h) = _undistorted_geometry(und, d)
                rel = f"frames/{name}.mp4"
                write_video(work / rel, _undistorted_frames(vids[name], start, stop, und, size, (w, h)),
                            fps=timing.fps, pts_s=tau, crf=opts.crf)
                source = FrameSource("video", rel)
                first = _fit(und.apply(medians[name]), size, (w, h))
            else:
                if timing.width % d or timing.height % d:
                    raise DataFormatError(vids[name], f"--downscale {d} does not divide {timing.width}x{timing.height}")
                K = cc.K.copy()
                K[:2] /= d
                w, h = timing.width // d, timing.height // d
                source = FrameSource("video", rel_to_scene(vids[name], out), start=start,
                                     stop=stop if stop < timing.n_frames else None)
                first = downscale_image(medians[name], d)
            cameras.append(CameraSpec(name, w, h, K, cc.R, cc.t, timing.fps, stop - start, source,
                                      None if timing.constant else tau))
            first_images[name] = first
            calib_info[name] = {"model": cc.colmap_camera.model_name,
                                "params": np.asarray(cc.colmap_camera.params).tolist(),
                                "reprojection_error_px": cc.reprojection_error_px, "observations": cc.n_observations,
                                "max_distortion_px": dist, "undistorted": dist > MAX_DISTORTION_PX}
            report.append({"camera": name, "size": f"{w}x{h}", "fps": round(timing.fps, 3), "frames": stop - start,
                           "vfr": not timing.constant, "reproj_px": round(cc.reprojection_error_px, 3),
                           "obs": cc.n_observations, "undistorted": dist > MAX_DISTORTION_PX})
        names = [c.name for c in cameras]
        return RawScene(cameras=cameras, points=PointCloud(calib.xyz, calib.rgb, "sfm"),
                        reference_camera=choose_reference(names, opts.reference, None, src),
                        test_cameras=choose_test_cameras(names, opts.test_cameras, [], src),
                        first_images=first_images, report=report, source={"calibration": calib_info})


def _undistorted_geometry(und: Undistortion, d: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """K, size after downscaling by d, and that size cropped to even sides (x264 needs them; the crop
    removes the last column/row, which leaves K unchanged)."""
    w, h = und.width // d, und.height // d
    K = und.K.copy()
    K[0] *= w / und.width
    K[1] *= h / und.height
    return K, (w, h), (w - w % 2, h - h % 2)


def _fit(img: np.ndarray, size: tuple[int, int], crop: tuple[int, int]) -> np.ndarray:
    """Area-resize an image to ``size`` (w, h) if needed, then crop it to ``crop`` (w, h)."""
    import cv2  # noqa: PLC0415

    if (img.shape[1], img.shape[0]) != size:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[:crop[1], :crop[0]])


def _undistorted_frames(path: Path, start: int, stop: int, und: Undistortion, size: tuple[int, int],
                        crop: tuple[int, int]) -> Iterator[np.ndarray]:
    """Yield the undistorted, downscaled, even-cropped frames [start, stop) of a video."""
    frames = iter_video_frames(path)
    try:
        for k, (img, _t) in enumerate(frames):
            if k < start:
                continue
            if k >= stop:
                break
            yield _fit(und.apply(img), size, crop)
    finally:
        frames.close()
