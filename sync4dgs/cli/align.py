"""``sync4dgs align SCENE``: stage-1 time alignment from moving content (no learned weights).

The settings are the ``align`` section of the experiment config (:class:`sync4dgs.sync.align.config.AlignConfig`,
the same one ``sync4dgs train`` runs stage 1 with): ``--config FILE`` reads a config file's ``"align"`` section,
``--align.KEY V`` overrides any key, and ``--max_offset_s``, ``--rates``, ``--device``, ``--track_max_side`` are
aliases of ``--align.max_offset_s`` ... (the command's original flags). Writes offsets.json (TimeMaps schema) plus
trajectories.npz, trajectories.ply and align_plot.png next to it, and prints one line per camera.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.errors import ConfigError
from sync4dgs.utils.cliopts import long_option

_PREFIX = "align__"
# the command's original flags -> their keys in the align section (help text, default shown)
ALIASES = {
    "max_offset_s": "search offsets in +-this many seconds (default 3)",
    "rates": "'1': trust the frame rates in scene.json; '30,25,24': each camera's true rate is one of these; "
             "'auto' (default): rate 1 unless the best offset drifts along the video and a ratio of common "
             "frame rates fits clearly better",
    "device": "auto | cpu | cuda[:i] (default auto)",
    "track_max_side": "longest side of the frames tracked (px, default 640)",
    "fg_mode": "moving-pixel masks: 'median' (difference to the temporal-median background), 'motion' "
               "(gain-compensated background AND dense optical flow: real footage with exposure drift, people "
               "who sit still, slight shake) or 'auto' (default: median, and where a camera is left short of "
               "'aligned' also motion, keeping the result with more aligned cameras; docs/align.md)",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sync4dgs.sync.align.config import AlignConfig  # noqa: PLC0415
    from sync4dgs.train.configio import config_leaves  # noqa: PLC0415

    p.allow_abbrev = False
    p.add_argument("scene", type=scene_folder, help="scene folder (with scene.json), or its scene.json")
    p.add_argument("--out", default=None, help="offsets file to write (default SCENE/offsets.json); the "
                                               "trajectories and the plot go next to it")
    p.add_argument("--config", default=None, type=Path,
                   help="experiment config (JSON, may 'extends' another): its 'align' section is used")
    p.add_argument("--tracks", default=None, help="folder of per-camera <camera>.npz point tracks to use instead of "
                                                  "the built-in KLT tracker (format: docs/align.md)")
    for name, help_text in ALIASES.items():
        p.add_argument(*long_option(name), dest=_PREFIX + name, default=argparse.SUPPRESS, metavar="V",
                       help=f"= --align.{name}: {help_text}")
    group = p.add_argument_group("stage-1 settings (any key of the config's align section)")
    for path in config_leaves(AlignConfig, "align"):
        group.add_argument(*long_option(path), dest=_PREFIX + path.split(".", 1)[1], default=argparse.SUPPRESS,
                           metavar="V")


def align_overrides(args: argparse.Namespace) -> dict[str, str]:
    """``{"align.KEY": value}`` of every align flag given (alias or dotted spelling)."""
    return {"align." + k[len(_PREFIX):]: v for k, v in vars(args).items() if k.startswith(_PREFIX)}


def run(args: argparse.Namespace) -> int:
    from sync4dgs.data.scene import load_scene  # noqa: PLC0415
    from sync4dgs.sync.align import align_scene, alignment_warnings, mask_choice_note, save_alignment  # noqa: PLC0415
    from sync4dgs.sync.align.export import OFFSETS_FILE  # noqa: PLC0415
    from sync4dgs.train.config import load_config  # noqa: PLC0415

    cfg = load_config(args.config, align_overrides(args)).align
    scene = load_scene(args.scene)
    tracks_dir = None
    if args.tracks is not None:
        tracks_dir = Path(args.tracks)
        if not tracks_dir.is_dir():
            raise ConfigError(f"--tracks {tracks_dir}: not a folder")
    out = Path(args.out) if args.out else Path(args.scene) / OFFSETS_FILE
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
    note = mask_choice_note(result.time_maps)
    if note:
        print(f"note: {note}")
    for msg in alignment_warnings(result.time_maps):
        print(f"warning: {msg}")
    return 0
