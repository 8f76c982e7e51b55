"""``sync4dgs render``: render a trained model's train/test views into the 3DGS folder layout (+ mp4s).

Which time map each camera is rendered with is decided by sync4dgs/eval/frame_times.py (``eval_time_map``).

``python render.py ...`` at the repository root is the same command (3DGS/Ex4DGS muscle memory).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.utils.cliopts import long_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sync4dgs.eval.frame_times import MIN_ESTIMATE_CONFIDENCE as min_conf  # noqa: PLC0415
    from sync4dgs.export.video_cli import add_path_video_arguments  # noqa: PLC0415

    parser.add_argument("-m", *long_option("model_path"), required=True, type=Path, help="trained model folder")
    parser.add_argument("-s", *long_option("source_path"), type=scene_folder, default=None,
                        help="scene folder (default: the scene recorded when the model was trained)")
    parser.add_argument("--iteration", type=int, default=-1, help="saved iteration to render (default: latest)")
    parser.add_argument(*long_option("skip_train"), action="store_true", help="do not render the training cameras")
    parser.add_argument(*long_option("skip_test"), action="store_true", help="do not render the test cameras")
    parser.add_argument(*long_option("test_time_maps"), type=Path, default=None,
                        help="time maps (TimeMaps JSON, e.g. SCENE/gt_sync.json) for held-out test cameras. "
                             "Without it (or for a camera it lacks) a held-out camera other than the reference "
                             "is rendered with the estimate training started from (stage 1 aligns held-out "
                             f"cameras too) when that estimate's confidence is at least {min_conf:g}, else at "
                             "offset 0, rate 1 with a warning; render_info.json records which map each camera "
                             "used")
    parser.add_argument(*long_option("fit_test_time"), action="store_true",
                        help="fit each held-out camera's offset (not the reference's) to its own frames before "
                             "rendering it: the test-time optimisation of Sync-NeRF's protocol (default: no fit, "
                             "stricter)")
    parser.add_argument(*long_option("frame_stride"), type=int, default=1,
                        help="render every N-th frame (default 1 = all)")
    parser.add_argument(*long_option("max_frames"), type=int, default=None, help="at most this many frames per camera")
    parser.add_argument(*long_option("no_video"), action="store_true", help="do not write one mp4 per camera")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--backend", default=None, choices=("auto", "torch", "gsplat"),
                        help="renderer (default auto: gsplat on CUDA, the torch reference on CPU)")
    parser.add_argument(*long_option("cpu_threads"), type=int, default=None,
                        help="torch threads when rendering on the CPU (default: the model's train.cpu_threads, "
                             "else torch's default; 1 is much faster for small images on a busy machine)")
    parser.add_argument(*long_option("montage_frames"), type=int, default=4,
                        help="evenly spaced test frames in M/test/ours_N/montage.png (ground truth | render | "
                             "|difference|; 0 = no montage)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    # --- free-viewpoint video options (owned by sync4dgs/export/video_cli.py) ---
    add_path_video_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "path", None):  # --path orbit|interp|camera:NAME -> one free-viewpoint mp4
        from sync4dgs.export.video_cli import run_path_video  # noqa: PLC0415

        return run_path_video(args)
    from sync4dgs.eval.render_views import render_model  # noqa: PLC0415
    from sync4dgs.eval.test_time_fit import FitSettings  # noqa: PLC0415

    splits = tuple(s for s, skip in (("train", args.skip_train), ("test", args.skip_test)) if not skip)
    if not splits:
        print("sync4dgs render: nothing to do (--skip_train and --skip_test both given)")
        return 0
    results = render_model(args.model_path, args.source_path, None if args.iteration < 0 else args.iteration,
                           splits=splits, device=args.device, backend=args.backend,
                           test_time_maps=args.test_time_maps, frame_stride=args.frame_stride,
                           max_frames=args.max_frames, write_videos=not args.no_video, progress=not args.quiet,
                           fit_test_times=FitSettings() if args.fit_test_time else None,
                           cpu_threads=args.cpu_threads, montage_frames=args.montage_frames)
    for r in results:
        print(f"{r.split}: {r.n_images} images from {len(r.cameras)} cameras -> {r.folder}")
    if not results:
        print("sync4dgs render: no cameras in the requested splits; nothing rendered")
    return 0
