"""``sync4dgs export``: a trained model as standard 3DGS PLY files (one per time) or as one 4D npz.

    sync4dgs export --model_path M --format ply --times all          # every reference-camera frame time
    sync4dgs export --model_path M --format ply --times 0.0,0.5 --out plys/
    sync4dgs export --model_path M --format npz                      # -> M/export/model_<iter>.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.utils.cliopts import long_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", *long_option("model_path"), required=True, type=Path,
                        help="trained model folder, a model.pt, or a 4D .npz")
    parser.add_argument("--format", required=True, choices=("ply", "npz"),
                        help="ply: one 3DGS PLY per time; npz: the full 4D model")
    parser.add_argument("--times", default="all",
                        help="ply only: 'all' (each frame time of the reference camera) or comma-separated global "
                             "times in seconds, e.g. 0.0,0.5,1.0")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: M/export/ply_<iter> or M/export)")
    parser.add_argument("--iteration", type=int, default=None, help="saved iteration (default: latest)")
    parser.add_argument("-s", *long_option("source_path"), type=scene_folder, default=None,
                        help="scene folder (default: the one recorded in the model); needed by --times all")
    parser.add_argument(*long_option("min_opacity"), type=float, default=0.0,
                        help="ply only: drop Gaussians whose opacity at that time is below this (default 0: keep all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.export.exporter import export_npz, export_ply_per_time, parse_times  # noqa: PLC0415
    from sync4dgs.export.model_files import load_model_any, model_folder_of, scene_for  # noqa: PLC0415

    from sync4dgs.model.folder import export_dir, ply_export_dir, read_appearance_file  # noqa: PLC0415

    trained = load_model_any(args.model_path, args.iteration, device="cpu")
    folder = model_folder_of(args.model_path)
    if args.format == "npz":
        appearance = read_appearance_file(folder)   # learned per-camera colour maps travel with the 4D model
        extra = None if appearance is None else {"appearance": appearance}
        out = export_npz(trained, args.out or export_dir(folder), extra)
        print(f"4D model (iteration {trained.iteration}, {trained.model.n_static} static + "
              f"{trained.model.n_dynamic} dynamic Gaussians) -> {out}")
        return 0
    needs_scene = args.times.strip() == "all"
    scene = scene_for(trained, args.model_path, args.source_path) if needs_scene else None
    selection = parse_times(args.times, scene, trained.time_maps.reference_camera)
    out_dir = args.out or ply_export_dir(folder, trained.iteration)
    export_ply_per_time(trained.model, selection, out_dir, min_opacity=args.min_opacity, progress=not args.quiet)
    print(f"{len(selection.times_s)} PLY files (t = {selection.times_s.min():.4f} .. {selection.times_s.max():.4f} s) "
          f"-> {out_dir}")
    return 0
