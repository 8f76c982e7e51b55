"""Neural 3D Video (DyNeRF / "Plenoptic Video") layout: ``camXX.mp4`` + ``poses_bounds.npy``.

``poses_bounds.npy`` is float [N, 17]: per row a 3x5 matrix (row-major) ``[down | right | back | C | hwf]``
whose first three columns are the camera-to-world rotation's columns in LLFF axis order (image-down,
image-right, backwards), ``C`` the camera centre and ``hwf`` = (height, width, focal) in pixels with the
principal point at the image centre; then the near and far depth bounds.

Pairing rule (documented in docs/scene_format.md). The rows carry no names; row k belongs to the k-th
video in camera-index order (cam00, cam01, ...), as in the original datasets. When the counts differ:
  1. ``pose_cameras`` (CLI ``--pose_cameras``) names each row explicitly; rows whose camera has no video and
     videos with no row are skipped and reported.
  2. else videos listed in ``exclude_cameras`` are removed first if that makes the counts equal
     (videos without a pose row, e.g. Sync-NeRF's coffee_martini without cam13 poses);
  3. else the known case: a folder named coffee_martini* with one video too many and a cam13 video ->
     cam13 is the video without a pose (Sync-NeRF release, issue seoha-kim/Sync-NeRF#5);
  4. else DataFormatError: the pairing would be a guess.
With equal counts, ``exclude_cameras`` simply drops the named cameras after pairing (e.g. ``--exclude_cameras
cam13`` reproduces the MixVoxels/K-Planes protocol, which drops coffee_martini's unsynchronized cam13).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from sync4dgs.data.points import PointCloud, triangulate_known_poses
from sync4dgs.data.readers.base import (PrepareOptions, RawScene, choose_reference, choose_test_cameras,
                                        rel_to_scene)
from sync4dgs.data.readers.common import (check_rotation, grab_frames, shift_time_maps,
                                          subset_time_maps)
from sync4dgs.data.video import video_timing
from sync4dgs.data.scene import GT_SYNC_FILE, CameraSpec, FrameSource
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import load_time_maps, rereference

log = logging.getLogger(__name__)

POSES_FILE = "poses_bounds.npy"
VIDEO_EXTS = (".mp4",)
KNOWN_VIDEOS_WITHOUT_POSE = {"coffee_martini": ("cam13",)}  # folder-name prefix -> camera names


def camera_sort_key(name: str) -> tuple[int, int, str]:
    """Sort camXX names by their integer index (cam2 < cam10); other names after, alphabetically."""
    m = re.fullmatch(r"cam_?(\d+)", name)
    return (0, int(m.group(1)), name) if m else (1, 0, name)


def find_videos(src: Path) -> list[Path]:
    """The ``cam*.mp4`` files of an N3V folder, in camera-index order."""
    vids = [p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS and p.stem.startswith("cam")]
    return sorted(vids, key=lambda p: camera_sort_key(p.stem))


# ---- LLFF poses ------------------------------------------------------------------------------------
def load_poses_bounds(path: Path) -> np.ndarray:
    """Read ``poses_bounds.npy`` as float64 [N, 17] (DataFormatError if unreadable, misshaped or non-finite)."""
    if not path.is_file():
        raise DataFormatError(path, "poses_bounds.npy not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataFormatError(path, f"cannot read as a numpy array: {e}") from e
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 17 or len(arr) == 0:
        raise DataFormatError(path, f"expected an [N, 17] array (LLFF poses + near/far), got shape {arr.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
    if len(bad):
        raise DataFormatError(path, f"rows {bad.tolist()} contain NaN or Inf")
    return arr


def llff_to_opencv(row: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float], tuple[float, float]]:
    """One poses_bounds row [17] -> (R_c2w [3, 3] in OpenCV axes (columns right, down, forward), centre C [3],
    (h, w, f) in pixels, (near, far)). Pure; does not validate."""
    m = np.asarray(row[:15], dtype=np.float64).reshape(3, 5)
    down, right, back, center, hwf = m[:, 0], m[:, 1], m[:, 2], m[:, 3], m[:, 4]
    c2w = np.stack([right, down, -back], axis=1)
    return c2w, center, (float(hwf[0]), float(hwf[1]), float(hwf[2])), (float(row[15]), float(row[16]))


# ---- pairing ---------------------------------------------------------------------------------------
def pair_videos_with_poses(videos: list[str], n_rows: int, exclude: list[str] | None = None,
                           pose_cameras: list[str] | None = None, known_unposed: tuple[str, ...] = (),
                           where: Path | None = None) -> tuple[dict[str, int], dict[str, str]]:
    """Apply the module's pairing rule. Returns ({camera: pose row}, {skipped camera or row: reason})."""
    exclude = list(exclude or [])
    skipped: dict[str, str] = {}
    if pose_cameras is not None:
        if len(pose_cameras) != n_rows:
            raise DataFormatError(where, f"--pose_cameras names {len(pose_cameras)} cameras but the file has "
                                         f"{n_rows} rows")
        pairs = {}
        for k, name in enumerate(pose_cameras):
            if name in videos:
                pairs[name] = k
            else:
                skipped[f"row {k} ({name})"] = "pose row without a video"
        for v in videos:
            if v not in pairs:
                skipped[v] = "video without a pose row (not in --pose_cameras)"
    elif len(videos) == n_rows:
        pairs = {v: k for k, v in enumerate(videos)}
    else:
        unposed = [v for v in exclude if v in videos]
        reason = "video without a pose row (excluded on request)"
        if not (unposed and len(videos) - len(unposed) == n_rows):
            unposed = [v for v in known_unposed if v in videos]
            reason = "video without a pose row (known for this dataset: it is left out of poses_bounds)"
            if not (unposed and len(videos) - len(unposed) == n_rows):
                raise DataFormatError(where, f"{len(videos)} videos ({', '.join(videos)}) but {n_rows} pose rows; "
                                             "cannot tell which camera each row belongs to. Pass --exclude_cameras "
                                             "with the videos that have no pose, or --pose_cameras with one name "
                                             "per row")
        for v in unposed:
            skipped[v] = reason
        kept = [v for v in videos if v not in unposed]
        pairs = {v: k for k, v in enumerate(kept)}
    for v in exclude:
        if v in pairs:
            del pairs[v]
            skipped[v] = "excluded on request"
    if not pairs:
        raise DataFormatError(where, "no camera has both a video and a pose")
    return pairs, skipped


# ---- reader ----------------------------------------------------------------------------------------
class N3VReader:
    """Reader for the N3V layout (also what ``sync4dgs unsync`` and the synth generator's n3v layout write)."""

    name = "n3v"

    def detect(self, src: Path) -> str | None:
        if (src / POSES_FILE).is_file() and find_videos(src):
            return None
        return f"{POSES_FILE} and cam*.mp4 files in the folder"

    def read(self, src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene:
        poses_path = src / POSES_FILE
        arr = load_poses_bounds(poses_path)
        videos = {p.stem: p for p in find_videos(src)}
        if not videos:
            raise DataFormatError(src, "no cam*.mp4 videos found")
        known = next((v for k, v in KNOWN_VIDEOS_WITHOUT_POSE.items() if src.resolve().name.startswith(k)), ())
        pairs, skipped = pair_videos_with_poses(list(videos), len(arr), opts.exclude_cameras, opts.pose_cameras,
                                                known, poses_path)
        for what, why in skipped.items():
            log.warning("%s: skipping %s: %s", src, what, why)
        d = int(opts.downscale)
        cameras, report, nears, fars, first_tau, first_idx = [], [], [], [], {}, {}
        for name in sorted(pairs, key=camera_sort_key):
            row = pairs[name]
            c2w, center, (h, w, f), (near, far) = llff_to_opencv(arr[row])
            R = check_rotation(c2w.T, poses_path, f"row {row} ({name})")
            timing = video_timing(videos[name])
            K = _intrinsics(timing.width, timing.height, h, w, f, d, poses_path, name)
            start, stop = (opts.frames.clip(timing.n_frames) if opts.frames else (0, timing.n_frames))
            if stop - start <= 0:
                raise DataFormatError(videos[name], f"--frames selects no frame (video has {timing.n_frames})")
            tau = timing.tau_s[start:stop] - timing.tau_s[start]
            src_frames = FrameSource("video", rel_to_scene(videos[name], out), start=start,
                                     stop=stop if stop < timing.n_frames else None)
            cam = CameraSpec(name, timing.width // d, timing.height // d, K, R, -R @ center, timing.fps,
                             stop - start, src_frames, None if timing.constant else tau)
            cameras.append(cam)
            nears.append(near)
            fars.append(far)
            first_tau[name], first_idx[name] = float(timing.tau_s[start]), start
            report.append({"camera": name, "pose_row": row, "size": f"{cam.width}x{cam.height}",
                           "fps": round(cam.fps, 3), "frames": cam.n_frames, "vfr": not timing.constant})
        if not (min(nears) > 0 and max(fars) > min(nears)):
            raise DataFormatError(poses_path, f"invalid near/far bounds (near {min(nears)}, far {max(fars)})")
        names = [c.name for c in cameras]
        first_images = {c.name: grab_frames(videos[c.name], [first_idx[c.name]], d)[first_idx[c.name]] for c in cameras}
        points = PointCloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), "none")
        if opts.points != "random":
            points = triangulate_known_poses(cameras, first_images, opts.calibration_options())
        gt = None
        if (src / GT_SYNC_FILE).is_file():
            gt = subset_time_maps(load_time_maps(src / GT_SYNC_FILE), names, src / GT_SYNC_FILE)
            gt = shift_time_maps(gt, first_tau)
        reference = choose_reference(names, opts.reference, "cam00", src)
        if gt is not None:
            gt = rereference(gt, reference, old_reference_status="fixed")
        return RawScene(
            cameras=cameras, points=points, reference_camera=reference,
            test_cameras=choose_test_cameras(names, opts.test_cameras, ["cam00"], src),
            near=float(min(nears)), far=float(max(fars)), gt_sync=gt, first_images=first_images, report=report,
            source={"skipped_cameras": skipped, "pose_rows": {n: pairs[n] for n in names}},
        )


def _intrinsics(vw: int, vh: int, h: float, w: float, f: float, d: int, where: Path, name: str) -> np.ndarray:
    """K [3, 3] of a video of size vw x vh downscaled by d, from LLFF's (h, w, f) (principal point at centre).

    If the video is a uniformly scaled version of (w, h) (e.g. the poses were made at another resolution),
    f is scaled with it; other mismatches are an error.
    """
    if h <= 0 or w <= 0 or f <= 0:
        raise DataFormatError(where, f"camera {name}: invalid hwf ({h}, {w}, {f})")
    s = vw / w
    if abs(vh / h - s) > 1e-3 * s:
        raise DataFormatError(where, f"camera {name}: video is {vw}x{vh} but poses_bounds says {w:g}x{h:g} "
                                     "(different aspect ratio)")
    if abs(s - 1) > 1e-6:
        log.warning("%s: camera %s video is %dx%d, poses were made for %gx%g; scaling the focal length by %.4f",
                    where, name, vw, vh, w, h, s)
    if vw % d or vh % d:
        raise DataFormatError(where, f"camera {name}: --downscale {d} does not divide the video size {vw}x{vh}")
    fs = f * s / d
    return np.array([[fs, 0.0, vw / (2.0 * d)], [0.0, fs, vh / (2.0 * d)], [0.0, 0.0, 1.0]])
