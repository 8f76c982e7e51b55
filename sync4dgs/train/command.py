"""The ``train`` command's arguments and action, shared by ``sync4dgs train`` (sync4dgs/cli/train.py) and
``python -m sync4dgs.train`` (what torchrun launches for multi-GPU training).

Every config key is also a flag: ``--train.iterations 100`` (dotted) or ``--iterations 100`` when the leaf
name is unique. Values are parsed by the key's type (lists as JSON or comma-separated).
``--gpus N`` re-launches the same command on N local GPUs through torchrun (one process per GPU).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.errors import ConfigError
from sync4dgs.utils.cliopts import long_option

_FIXED_DESTS = ("config", "model_path", "source_path", "offsets", "no_align", "fixed_time_maps", "trajectories",
                "start_checkpoint", "quiet", "gpus", "force_unlock")
_OVERRIDE_PREFIX = "cfg__"

log = logging.getLogger(__name__)


class _Ambiguous(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is ambiguous; use one of " + ", ".join(f"--{p}" for p in self.const))


def _scene_arg(text: str) -> str:
    """``--source_path``: the scene folder, also when its scene.json is given (kept a string, as every rank's
    command line carries it)."""
    return str(scene_folder(text))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sync4dgs.train.config import ExperimentConfig  # noqa: PLC0415
    from sync4dgs.train.configio import config_leaves, flat_aliases  # noqa: PLC0415

    p.allow_abbrev = False   # "--iter" must not silently mean "--iterations"
    p.add_argument("--config", default=None, help="JSON experiment config (may 'extends' another)")
    p.add_argument(*long_option("model_path"), "-m", required=True,
                   help="output model folder (resumed if it has checkpoints)")
    p.add_argument(*long_option("source_path"), "-s", required=True, type=_scene_arg,
                   help="canonical scene folder (or its scene.json)")
    p.add_argument("--offsets", default=None, help="initial time maps (offsets.json); skips stage 1")
    p.add_argument(*long_option("no_align"), action="store_true",
                   help="skip stage 1: start from the scene's maps / identity")
    p.add_argument(*long_option("fixed_time_maps"), default=None, metavar="FILE|identity",
                   help="do not learn time maps: use FILE (e.g. gt_sync.json, 'oracle') or 'identity' ('naive')")
    p.add_argument("--trajectories", default=None, metavar="FILE",
                   help="stage-1 trajectories.npz initialising dynamic Gaussians (default: the one next to "
                        "--offsets / written by stage 1); lets --fixed_time_maps runs start like sync4dgs runs")
    p.add_argument(*long_option("start_checkpoint"), default=None,
                   help="resume from this checkpoint (default: M's latest)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(*long_option("force_unlock"), action="store_true",
                   help="take over the model folder's train.lock even if its holder may be alive (only when no "
                        "run uses the folder; a dead run's lock on this host, or another host's without a "
                        "heartbeat for 10 min, is taken over without it)")
    p.add_argument("--gpus", type=int, default=0, metavar="N",
                   help="train on N local GPUs, one process each (re-launches through torchrun; CPU processes "
                        "with gloo where there is no CUDA). Several hosts: run torchrun -m sync4dgs.train yourself")
    leaves = config_leaves(ExperimentConfig)
    group = p.add_argument_group("config overrides (any key of the experiment config)")
    for path in leaves:
        group.add_argument(*long_option(path), dest=_OVERRIDE_PREFIX + path, default=argparse.SUPPRESS, metavar="V")
    unique, ambiguous = flat_aliases(leaves)
    taken = set(_FIXED_DESTS)
    for name, path in unique.items():
        if name not in taken and name not in leaves:
            group.add_argument(*long_option(name), dest=_OVERRIDE_PREFIX + path, default=argparse.SUPPRESS,
                               metavar="V", help=argparse.SUPPRESS)
    for name, paths in ambiguous.items():
        if name not in taken:
            p.add_argument(*long_option(name), action=_Ambiguous, const=paths, help=argparse.SUPPRESS)


def overrides_from_args(args: argparse.Namespace) -> dict[str, str]:
    return {k[len(_OVERRIDE_PREFIX):]: v for k, v in vars(args).items() if k.startswith(_OVERRIDE_PREFIX)}


def argv_from_args(args: argparse.Namespace) -> list[str]:
    """The command line (without ``--gpus``) that reproduces ``args``: what every torchrun rank receives."""
    argv: list[str] = []
    for flag, value in (("--config", args.config), ("--model_path", args.model_path),
                        ("--source_path", args.source_path), ("--offsets", args.offsets),
                        ("--fixed_time_maps", args.fixed_time_maps), ("--start_checkpoint", args.start_checkpoint),
                        ("--trajectories", args.trajectories)):
        if value is not None:
            argv += [flag, str(value)]
    argv += [flag for flag, on in (("--no_align", args.no_align), ("--quiet", args.quiet),
                                   ("--force_unlock", args.force_unlock)) if on]
    for key, value in overrides_from_args(args).items():
        argv += [f"--{key}", str(value)]
    return argv


def run(args: argparse.Namespace, extra_callbacks=()) -> int:
    """Run the command. ``extra_callbacks``: factories ``session -> Callback`` passed to train() (the CLI layer
    adds the live viewer through it; they are not available under ``--gpus``)."""
    from sync4dgs.timemap import TimeMaps, load_time_maps  # noqa: PLC0415
    from sync4dgs.train import load_config, train  # noqa: PLC0415
    from sync4dgs.train.distributed.launch import distributed_requested, env_rank, relaunch  # noqa: PLC0415

    cfg = load_config(args.config, overrides_from_args(args))   # validate before launching anything
    if args.gpus and extra_callbacks:
        raise ConfigError("--viewer cannot be combined with --gpus (attach `sync4dgs view` to the saved model)")
    if args.gpus and not distributed_requested():
        module_args = argv_from_args(args)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            module_args = ["--verbose", *module_args]
        return relaunch(args.gpus, module_args, cfg.train.device)
    if args.gpus and os.environ.get("WORLD_SIZE") != str(args.gpus):
        log.warning("--gpus %d ignored: already running under torchrun with WORLD_SIZE=%s", args.gpus,
                    os.environ.get("WORLD_SIZE"))
    main_rank = env_rank() == 0
    if not main_rank:                 # one voice per job: ranks other than 0 report only problems
        logging.getLogger().setLevel(logging.WARNING)
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
                   time_maps_override=fixed, start_checkpoint=args.start_checkpoint,
                   progress=not args.quiet and main_rank, extra_callbacks=extra_callbacks,
                   trajectories_path=args.trajectories, force_unlock=args.force_unlock)
    if main_rank:
        _print_summary(result)
    return 0


def _print_summary(result) -> None:
    s = result.stats
    psnr = s.get("final_train_psnr")
    n = s.get("world_size")
    ranks = "" if n is None else f" on {n} rank{'s' if n != 1 else ''}"
    psnr_text = f"; final train PSNR {psnr:.2f} dB" if psnr is not None else ""
    print(f"trained {result.iteration} iterations{ranks} in {s['train_seconds']:.1f} s "
          f"({s['images_per_second']:.1f} images/s); {s['n_static']} static + {s['n_dynamic']} dynamic "
          f"Gaussians{psnr_text}")
    print(f"{'camera':<12}{'offset_s':>12}{'rate':>10}  status")
    for name, m in result.time_maps.cameras.items():
        print(f"{name:<12}{m.offset_s:>+12.4f}{m.rate:>10.5f}  {m.status}")
    print(f"model: {Path(result.model_file)}")
