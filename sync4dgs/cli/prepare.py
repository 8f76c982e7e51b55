"""``sync4dgs prepare SRC --out SCENE``: convert a dataset to a canonical scene folder."""

from __future__ import annotations

import argparse

from sync4dgs.data.readers.base import POINT_MODES, FrameRange
from sync4dgs.utils.cliopts import long_option


def _frames(text: str) -> FrameRange | None:
    from sync4dgs.errors import ConfigError  # noqa: PLC0415

    try:
        return FrameRange.parse(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _names(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sync4dgs.data.readers import READERS  # noqa: PLC0415

    p.add_argument("src", help="dataset folder")
    p.add_argument("--out", required=True,
                   help="scene folder to write (an earlier scene or an empty folder is replaced atomically)")
    p.add_argument("--overwrite", action="store_true",
                   help="also replace a non-empty --out folder that is not a sync4dgs scene (never one inside SRC)")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="dataset format (default: autodetect)")
    p.add_argument("--downscale", type=int, default=1, help="integer image downscale factor (N3V standard: 2)")
    p.add_argument(*long_option("test_cameras"), type=_names, default=None,
                   help="comma-separated held-out cameras (default: n3v cam00, technicolor cam10, others none)")
    p.add_argument("--reference", default=None, help="reference camera (default: cam00 or the first camera)")
    p.add_argument("--frames", type=_frames, default=None,
                   help="frame range START:STOP (0-based video frames; Technicolor/COLMAP image sequences: "
                        "file numbers)")
    p.add_argument(*long_option("exclude_cameras"), type=_names, default=[],
                   help="comma-separated cameras to leave out")
    p.add_argument(*long_option("pose_cameras"), type=_names, default=None,
                   help="n3v: camera name of each poses_bounds.npy row, in row order")
    p.add_argument("--points", choices=POINT_MODES, default="auto",
                   help="auto: triangulate/SfM points, random frustum points if too few; strict: error if too few; "
                        "random: random frustum points only")
    p.add_argument(*long_option("n_random_points"), type=int, default=20000,
                   help="number of random frustum points when they are used (--points random, or the auto fallback)")
    p.add_argument(*long_option("max_features"), type=int, default=8192, help="SIFT features per image")
    p.add_argument(*long_option("max_image_size"), type=int, default=1600, help="SIFT image size limit (pixels)")
    p.add_argument(*long_option("camera_model"), default="SIMPLE_RADIAL",
                   choices=["PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV"],
                   help="videos: camera model for SfM (distorted models are undistorted)")
    p.add_argument(*long_option("calibration"), default=None, metavar="FILE",
                   help="videos: the rig's calibration instead of SfM (anipose/Pose2Sim or caliscope TOML, OpenCV "
                        "YAML/XML, a COLMAP model folder, cameras.json); also accepts numbered-image folders")
    p.add_argument(*long_option("calibration_units"), default=None,
                   help="length unit of --calibration when the file does not say (recorded in scene.json)")
    p.add_argument(*long_option("shared_intrinsics"), action="store_true",
                   help="videos: all cameras are the same device")
    p.add_argument(*long_option("samples_per_camera"), type=int, default=15,
                   help="videos: frames in each camera's median image")
    p.add_argument("--fps", type=float, default=None, help="frame rate of image sequences (default 30)")
    p.add_argument(*long_option("assume_synchronized"), action="store_true",
                   help="mark all cameras as synchronized (time_map offset 0, rate 1)")
    p.add_argument(*long_option("no_normalize"), dest="normalize", action="store_false",
                   help="keep the original world frame")
    p.add_argument("--crf", type=int, default=12, help="x264 quality for re-encoded (undistorted) videos")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for COLMAP")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.data.readers import PrepareOptions, prepare  # noqa: PLC0415

    opts = PrepareOptions(
        downscale=args.downscale, test_cameras=args.test_cameras, reference=args.reference, frames=args.frames,
        exclude_cameras=args.exclude_cameras, pose_cameras=args.pose_cameras, points=args.points,
        n_random_points=args.n_random_points,
        max_features=args.max_features, max_image_size=args.max_image_size, camera_model=args.camera_model,
        shared_intrinsics=args.shared_intrinsics, samples_per_camera=args.samples_per_camera, fps=args.fps,
        assume_synchronized=args.assume_synchronized, normalize=args.normalize, crf=args.crf,
        calibration=args.calibration, calibration_units=args.calibration_units, num_threads=args.threads)
    scene = prepare(args.src, args.out, fmt=args.format, overwrite=args.overwrite, options=opts)
    rows = scene.source.get("report", [])
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
        print("  ".join(k.ljust(widths[k]) for k in keys))
        for r in rows:
            print("  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys))
    skipped = scene.source.get("skipped_cameras") or {}
    for what, why in skipped.items():
        print(f"skipped {what}: {why}")
    pts = scene.source["points"]
    print(f"scene: {scene.root}  ({scene.source['format']}; {len(scene.cameras)} cameras, reference "
          f"{scene.reference_camera}, test {scene.test_cameras or 'none'}; {pts['count']} points ({pts['method']}); "
          f"near {scene.near:.3g}, far {scene.far:.3g} scene units)")
    return 0
