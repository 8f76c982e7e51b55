"""``sync4dgs align SCENE``: stage-1 time alignment from moving content (no learned weights).

Writes offsets.json (TimeMaps schema) plus trajectories.npz, trajectories.ply and align_plot.png next to it,
and prints one line per camera.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.errors import ConfigError
from sync4dgs.utils.cliopts import long_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", type=scene_folder, help="scene folder (with scene.json), or its scene.json")
    p.add_argument("--out", default=None, help="offsets file to write (default SCENE/offsets.json); the "
                                               "trajectories and the plot go next to it")
    p.add_argument(*long_option("max_offset_s"), type=float, default=3.0,
                   help="search offsets in +-this many seconds (default 3)")
    p.add_argument("--rates", default="auto",
                   help="'1': trust the frame rates in scene.json; '30,25,24': each camera's true rate is one of "
                        "these; 'auto' (default): rate 1 unless the best offset drifts along the video and a "
                        "ratio of common frame rates fits clearly better")
    p.add_argument("--tracks", default=None, help="folder of per-camera <camera>.npz point tracks to use instead of "
                                                  "the built-in KLT tracker (format: docs/align.md)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i] (default auto)")
    p.add_argument(*long_option("track_max_side"), type=int, default=None,
                   help="longest side of the frames tracked (px)")
    p.add_argument(*long_option("fg_mode"), choices=("median", "motion"), default=None,
                   help="moving-pixel masks: 'median' (default: difference to the temporal-median background) or "
                        "'motion' (gain-compensated background AND dense optical flow: for real footage with "
                        "exposure drift, people who sit still, slight shake; docs/align.md)")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.data.scene import load_scene  # noqa: PLC0415
    from sync4dgs.sync.align import AlignConfig, align_scene, alignment_warnings, save_alignment  # noqa: PLC0415

    scene = load_scene(args.scene)
    kw = {"max_offset_s": args.max_offset_s, "rates": args.rates, "device": args.device}
    if args.track_max_side is not None:
        kw["track_max_side"] = args.track_max_side
    if args.fg_mode is not None:
        kw["fg_mode"] = args.fg_mode
    cfg = AlignConfig(**kw).validate()
    tracks_dir = None
    if args.tracks is not None:
        tracks_dir = Path(args.tracks)
        if not tracks_dir.is_dir():
            raise ConfigError(f"--tracks {tracks_dir}: not a folder")
    out = Path(args.out) if args.out else Path(args.scene) / "offsets.json"
    result = align_scene(scene, cfg, tracks_dir)
    paths = save_alignment(result, out.parent, out.name)
    print(f"{'camera':<12} {'offset_s':>10} {'frames':>9} {'rate':>9} {'conf':>6}  status")
    for cam in scene.cameras:
        m = result.time_maps.cameras[cam.name]
        print(f"{cam.name:<12} {m.offset_s:>+10.4f} {m.offset_s * cam.fps:>+9.2f} {m.rate:>9.5f} "
              f"{m.confidence:>6.2f}  {m.status}")
    n_traj = 0 if result.trajectories is None else result.trajectories.n
    print(f"wrote {paths['offsets']} ({n_traj} 3D trajectories, plot {paths['plot'].name}) "
          f"in {result.timings_s.get('total', 0.0):.1f} s")
    for msg in alignment_warnings(result.time_maps):
        print(f"warning: {msg}")
    return 0
