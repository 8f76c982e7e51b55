"""``sync4dgs train``: stage 2 (4D Gaussians + learnable camera time maps) on a canonical scene.

Every config key is also a flag: ``--train.iterations 100`` (dotted) or ``--iterations 100`` when the leaf
name is unique. Values are parsed by the key's type (lists as JSON or comma-separated).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.errors import ConfigError

_FIXED_DESTS = ("config", "model_path", "source_path", "offsets", "no_align", "fixed_time_maps",
                "start_checkpoint", "quiet")
_OVERRIDE_PREFIX = "cfg__"


class _Ambiguous(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is ambiguous; use one of " + ", ".join(f"--{p}" for p in self.const))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sync4dgs.train.config import ExperimentConfig  # noqa: PLC0415
    from sync4dgs.train.configio import config_leaves, flat_aliases  # noqa: PLC0415

    p.allow_abbrev = False   # "--iter" must not silently mean "--iterations"
    p.add_argument("--config", default=None, help="JSON experiment config (may 'extends' another)")
    p.add_argument("--model_path", "-m", required=True, help="output model folder (resumed if it has checkpoints)")
    p.add_argument("--source_path", "-s", required=True, help="canonical scene folder (scene.json)")
    p.add_argument("--offsets", default=None, help="initial time maps (offsets.json); skips stage 1")
    p.add_argument("--no_align", action="store_true", help="skip stage 1: start from the scene's maps / identity")
    p.add_argument("--fixed_time_maps", default=None, metavar="FILE|identity",
                   help="do not learn time maps: use FILE (e.g. gt_sync.json, 'oracle') or 'identity' ('naive')")
    p.add_argument("--start_checkpoint", default=None, help="resume from this checkpoint (default: M's latest)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    leaves = config_leaves(ExperimentConfig)
    group = p.add_argument_group("config overrides (any key of the experiment config)")
    for path in leaves:
        group.add_argument(f"--{path}", dest=_OVERRIDE_PREFIX + path, default=argparse.SUPPRESS, metavar="V")
    unique, ambiguous = flat_aliases(leaves)
    taken = set(_FIXED_DESTS)
    for name, path in unique.items():
        if name not in taken and name not in leaves:
            group.add_argument(f"--{name}", dest=_OVERRIDE_PREFIX + path, default=argparse.SUPPRESS,
                               metavar="V", help=argparse.SUPPRESS)
    for name, paths in ambiguous.items():
        if name not in taken:
            p.add_argument(f"--{name}", action=_Ambiguous, const=paths, help=argparse.SUPPRESS)


def overrides_from_args(args: argparse.Namespace) -> dict[str, str]:
    return {k[len(_OVERRIDE_PREFIX):]: v for k, v in vars(args).items() if k.startswith(_OVERRIDE_PREFIX)}


def run(args: argparse.Namespace) -> int:
    from sync4dgs.sync.timemap import TimeMaps, load_time_maps  # noqa: PLC0415
    from sync4dgs.train import load_config, train  # noqa: PLC0415

    cfg = load_config(args.config, overrides_from_args(args))
    fixed = None
    if args.fixed_time_maps is not None:
        if args.fixed_time_maps == "identity":
            from sync4dgs.data.scene import load_scene  # noqa: PLC0415

            scene = load_scene(args.source_path)
            fixed = TimeMaps.identity(scene.camera_names, scene.reference_camera)
        else:
            fixed = load_time_maps(args.fixed_time_maps)
    if fixed is not None and (args.offsets or args.no_align):
        raise ConfigError("--fixed_time_maps cannot be combined with --offsets / --no_align")
    result = train(args.source_path, args.model_path, cfg, offsets_path=args.offsets, no_align=args.no_align,
                   time_maps_override=fixed, start_checkpoint=args.start_checkpoint, progress=not args.quiet)
    s = result.stats
    psnr = s.get("final_train_psnr")
    print(f"trained {result.iteration} iterations in {s['train_seconds']:.1f} s "
          f"({s['images_per_second']:.1f} images/s); {s['n_static']} static + {s['n_dynamic']} dynamic Gaussians; "
          f"final train PSNR {psnr:.2f} dB" if psnr is not None else "")
    print(f"{'camera':<12}{'offset_s':>12}{'rate':>10}  status")
    for name, m in result.time_maps.cameras.items():
        print(f"{name:<12}{m.offset_s:>+12.4f}{m.rate:>10.5f}  {m.status}")
    print(f"model: {Path(result.model_file)}")
    return 0
