"""Technicolor light-field video dataset (4x4 rig, 2048x1088, 30 fps), "undistorted" release.

Layout: ``<Scene>_undist_<frame:05d>_<cam:02d>.png`` plus ``cameras_parameters.txt``. That file has a header
line, then one line per camera (camera k = k-th data line = file suffix ``_kk``) with 12 numbers::

    f  cu  cv  ar  sk  qw  qx  qy  qz  tx  ty  tz

f: focal length (px), (cu, cv): principal point (px), ar: aspect ratio (fy = ar * f), sk: skew;
(qw, qx, qy, qz, tx, ty, tz): the world-to-camera rotation quaternion and translation in COLMAP's
convention (this is how the STG/Ex4DGS preprocessing feeds them to COLMAP as ``images.txt`` poses).
The "original" (distorted) release has 14 numbers, two radial distortion terms after ``sk``; it is
accepted only if both are zero.

Frames stay where they are: each camera is an image-sequence source with its own filename pattern.
``--frames a:b`` uses the FILE frame numbers (the protocol windows are given that way, e.g. Birthday
151:201). Defaults: test camera cam10 (STG/Ex4DGS protocol), reference cam00, 30 fps.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from sync4dgs.data.frames import read_image
from sync4dgs.data.points import PointCloud, triangulate_known_poses
from sync4dgs.data.readers.base import (PrepareOptions, RawScene, choose_reference, choose_test_cameras,
                                        escape_format, rel_to_scene)
from sync4dgs.data.readers.common import check_image_headers, check_rotation
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.data.video import downscale_image
from sync4dgs.errors import DataFormatError
from sync4dgs.utils.geometry import quat_to_rotmat

log = logging.getLogger(__name__)

PARAMS_FILE = "cameras_parameters.txt"
FRAME_RE = re.compile(r"^(?P<scene>.+)_undist_(?P<frame>\d{5})_(?P<cam>\d{2})\.png$")
DEFAULT_FPS = 30.0
DEFAULT_NEAR_FAR = (0.65, 10.0)  # HyperReel's generic Technicolor bounds (only used without points)


def parse_camera_parameters(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read cameras_parameters.txt -> [(K [3, 3], R [3, 3] world-to-camera, t [3])] in camera order.

    Non-numeric lines (the header) are skipped; numeric lines must have 12 values (or 14 with zero
    distortion). Raises DataFormatError naming the line on anything else.
    """
    if not path.is_file():
        raise DataFormatError(path, "cameras_parameters.txt not found")
    out = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            vals = [float(x) for x in tokens]
        except ValueError:
            if out:
                raise DataFormatError(path, f"line {lineno}: non-numeric values after the camera lines") from None
            continue  # header
        if len(vals) == 14:
            if abs(vals[5]) > 1e-9 or abs(vals[6]) > 1e-9:
                raise DataFormatError(path, f"line {lineno}: lens distortion ({vals[5]}, {vals[6]}) is not supported; "
                                            "use the 'undistorted' Technicolor release")
            vals = vals[:5] + vals[7:]
        if len(vals) != 12:
            raise DataFormatError(path, f"line {lineno}: expected 12 numbers (f cu cv ar sk qw qx qy qz tx ty tz), "
                                        f"got {len(vals)}")
        if not np.all(np.isfinite(vals)):
            raise DataFormatError(path, f"line {lineno}: NaN or Inf in camera parameters")
        f, cu, cv, ar, sk = vals[:5]
        q = np.array(vals[5:9])
        if f <= 0 or ar <= 0:
            raise DataFormatError(path, f"line {lineno}: focal length and aspect ratio must be positive")
        nq = np.linalg.norm(q)
        if abs(nq - 1) > 1e-2:
            raise DataFormatError(path, f"line {lineno}: rotation quaternion has norm {nq:.4f}, expected 1")
        R = check_rotation(quat_to_rotmat(q / nq), path, f"line {lineno}")
        K = np.array([[f, sk, cu], [0.0, ar * f, cv], [0.0, 0.0, 1.0]])
        out.append((K, R, np.array(vals[9:12])))
    if not out:
        raise DataFormatError(path, "no camera lines found")
    return out


def scan_frames(src: Path) -> tuple[str, dict[int, list[int]]]:
    """Scene name and {camera index: sorted file frame numbers} of the ``*_undist_*_*.png`` files."""
    frames: dict[int, list[int]] = defaultdict(list)
    scenes = set()
    for p in src.iterdir():
        m = FRAME_RE.match(p.name)
        if m and p.is_file():
            scenes.add(m.group("scene"))
            frames[int(m.group("cam"))].append(int(m.group("frame")))
    if len(scenes) > 1:
        raise DataFormatError(src, f"frames of several scenes in one folder: {sorted(scenes)}")
    if not scenes:
        raise DataFormatError(src, "no <Scene>_undist_<frame:05d>_<cam:02d>.png files")
    return scenes.pop(), {k: sorted(v) for k, v in frames.items()}


class TechnicolorReader:
    name = "technicolor"

    def detect(self, src: Path) -> str | None:
        if (src / PARAMS_FILE).is_file() and any(FRAME_RE.match(p.name) for p in src.glob("*_undist_*.png")):
            return None
        return f"{PARAMS_FILE} and <Scene>_undist_<frame:05d>_<cam:02d>.png files"

    def read(self, src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene:
        params = parse_camera_parameters(src / PARAMS_FILE)
        scene_name, frames = scan_frames(src)
        extra = sorted(set(frames) - set(range(len(params))))
        if extra:
            raise DataFormatError(src / PARAMS_FILE, f"{len(params)} cameras described but frames exist for camera "
                                                     f"index(es) {extra}")
        missing = [k for k in range(len(params)) if k not in frames]
        if missing:
            log.warning("%s: cameras %s have parameters but no frames; skipped", src, missing)
        lo = max(frames[k][0] for k in frames)
        hi = min(frames[k][-1] for k in frames) + 1
        start, stop = opts.frames.clip(hi - lo, lo) if opts.frames else (lo, hi)
        if stop <= start:
            raise DataFormatError(src, f"no frame range common to all cameras within the request (have {lo}..{hi - 1})")
        fps = opts.fps or DEFAULT_FPS
        d = int(opts.downscale)
        cameras, first_images, report = [], {}, []
        for k in sorted(frames):
            name = f"cam{k:02d}"
            if name in opts.exclude_cameras:
                continue
            have = set(frames[k])
            gap = [i for i in range(start, stop) if i not in have]
            if gap:
                raise DataFormatError(src, f"camera {k:02d}: frame file(s) {gap[:5]} missing in {start}..{stop - 1}")
            pattern = escape_format(scene_name) + "_undist_{:05d}_" + f"{k:02d}.png"
            first = read_image(src / pattern.format(start))
            h, w = first.shape[:2]
            if w % d or h % d:
                raise DataFormatError(src / pattern.format(start), f"--downscale {d} does not divide {w}x{h}")
            check_image_headers([src / pattern.format(i) for i in range(start, stop)], (w, h))
            K, R, t = params[k]
            K = K.copy()
            K[:2] /= d
            cam = CameraSpec(name, w // d, h // d, K, R, t, fps, stop - start,
                             FrameSource("images", rel_to_scene(src, out), pattern, start=start))
            cameras.append(cam)
            first_images[name] = downscale_image(first, d)
            report.append({"camera": name, "size": f"{cam.width}x{cam.height}", "frames": f"{start}..{stop - 1}",
                           "fps": fps})
        if not cameras:
            raise DataFormatError(src, "every camera was excluded")
        names = [c.name for c in cameras]
        points = PointCloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), "none")
        if opts.points != "random":
            points = triangulate_known_poses(cameras, first_images, opts.calibration_options())
        near, far = (None, None) if len(points) >= opts.min_points else DEFAULT_NEAR_FAR
        return RawScene(cameras=cameras, points=points,
                        reference_camera=choose_reference(names, opts.reference, "cam00", src),
                        test_cameras=choose_test_cameras(names, opts.test_cameras, ["cam10"], src),
                        near=near, far=far, first_images=first_images, report=report,
                        source={"scene": scene_name, "file_frames": [start, stop],
                                "skipped_cameras": {f"cam{k:02d}": "parameters but no frames" for k in missing}})
