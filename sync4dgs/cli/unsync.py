"""``sync4dgs unsync SRC --out DIR``: an unsynchronized benchmark (random per-camera start offsets)."""

from __future__ import annotations

import argparse

from sync4dgs.data.scene import scene_folder
from sync4dgs.utils.cliopts import long_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=scene_folder,
                   help="synchronized dataset: N3V folder (cam*.mp4 + poses_bounds.npy) or canonical scene "
                        "(its folder or its scene.json)")
    p.add_argument("--out", required=True, help="output folder (same layout as the input, plus gt_sync.json)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(*long_option("sigma_frames"), type=float, default=5.0,
                   help="offsets ~ round(N(0, sigma)) frames (Sync-NeRF protocol; default 5)")
    g.add_argument(*long_option("max_offset_frames"), type=int, default=None,
                   help="offsets uniform in [-K, K] frames instead")
    p.add_argument(*long_option("no_negative"), dest="allow_negative", action="store_false",
                   help="only non-negative offsets (drop-only: reference and test cameras are not trimmed)")
    p.add_argument(*long_option("n_frames"), type=int, default=None,
                   help="keep this many frames per camera (Sync-NeRF: 270)")
    p.add_argument(*long_option("test_cameras"), default=None,
                   help="comma-separated cameras left at offset 0 (default cam00)")
    p.add_argument("--reference", default=None, help="reference camera (default cam00 / the scene's)")
    p.add_argument("--overwrite", action="store_true",
                   help="also replace a non-empty --out folder that sync4dgs did not write (never one inside SRC)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crf", type=int, default=12, help="x264 quality of the trimmed videos (0 = lossless)")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.data.unsync import UnsyncConfig, unsync  # noqa: PLC0415

    tests = None if args.test_cameras is None else [t.strip() for t in args.test_cameras.split(",") if t.strip()]
    cfg = UnsyncConfig(sigma_frames=args.sigma_frames, max_offset_frames=args.max_offset_frames, seed=args.seed,
                       allow_negative=args.allow_negative, n_frames=args.n_frames, test_cameras=tests,
                       reference=args.reference, crf=args.crf)
    gt = unsync(args.src, args.out, cfg, overwrite=args.overwrite)
    extra = gt.extra or {}
    print(f"{'camera':8s} {'offset_frames':>13s} {'start_frame':>11s} {'offset_s':>9s}")
    for name, m in gt.cameras.items():
        print(f"{name:8s} {extra['offset_frames'][name]:>13d} {extra['start_frames'][name]:>11d} {m.offset_s:>9.4f}")
    print(f"wrote {args.out} ({extra['n_frames']} frames per camera, reference {gt.reference_camera}, gt_sync.json)")
    return 0
