"""The ``sync4dgs`` command line (one module per subcommand in sync4dgs/cli/, each with ``add_arguments(parser)``
and ``run(args) -> int``, imported lazily so ``sync4dgs --help`` stays fast and one command's heavy imports don't
slow the others). :data:`DESCRIPTION` is what ``sync4dgs --help`` prints above the commands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from sync4dgs.errors import Sync4DGSError
from sync4dgs.utils.cliopts import ALIAS_NOTE, HelpFormatter

DESCRIPTION = """\
sync4dgs: 4D Gaussian splatting from unsynchronized multi-view videos. It estimates each camera's time offset
(and clock rate) and rebuilds the dynamic scene as 4D Gaussians that render any view at any time.

usual pipeline:
  sync4dgs prepare SRC --out SCENE     videos / N3V / Technicolor / COLMAP -> canonical scene (scene.json)
    (or sync4dgs synth --out SCENE     a synthetic scene with known offsets)
  sync4dgs align SCENE                 stage 1: per-camera offsets (train runs it itself unless told not to)
  sync4dgs train -s SCENE -m MODEL     stage 2: 4D Gaussians + time maps, optimised jointly
  sync4dgs render -m MODEL             train/test views (PNG + mp4), or a free-viewpoint video (--path)
  sync4dgs metrics -m MODEL            PSNR/SSIM/FLIP (+ moving/static regions) and offset errors -> results.json
  sync4dgs view -m MODEL               browser viewer with a time slider
  sync4dgs export -m MODEL --format ply|npz    3DGS PLY per time, or the 4D model
  sync4dgs demo [--quick]              all of it on a small built-in scene

'sync4dgs COMMAND --help' lists a command's options.
""" + ALIAS_NOTE

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("sync4dgs.cli.demo", "synth a small unsynchronized scene, align, train, render, metrics"),
    "synth": ("sync4dgs.cli.synth", "generate a synthetic unsynchronized multi-view scene"),
    "prepare": ("sync4dgs.cli.prepare", "convert N3V / Technicolor / COLMAP / raw videos to a canonical scene"),
    "unsync": ("sync4dgs.cli.unsync", "make an unsynchronized benchmark from a synchronized dataset"),
    "align": ("sync4dgs.cli.align", "stage 1: estimate per-camera time offsets from trajectories"),
    "train": ("sync4dgs.cli.train", "stage 2: train the 4D Gaussians jointly with camera time maps"),
    "render": ("sync4dgs.cli.render", "render a trained model (test/train views, or free-viewpoint video)"),
    "metrics": ("sync4dgs.cli.metrics", "compute PSNR/SSIM/FLIP/LPIPS and offset errors of a rendered model"),
    "export": ("sync4dgs.cli.export", "export a trained model as 3DGS PLY per time or as a 4D npz"),
    "view": ("sync4dgs.cli.view", "browser viewer with a time slider"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sync4dgs", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, add_help=False)  # the command parser handles -h
        p.set_defaults(_module=module)
        # Arguments are added lazily in main() once we know which command runs.
    return parser


def build_command_parser(name: str) -> tuple[ModuleType, argparse.ArgumentParser]:
    """(the command's module, its own argument parser) for subcommand ``name``."""
    module, help_text = COMMANDS[name]
    mod = importlib.import_module(module)
    cmd_parser = argparse.ArgumentParser(prog=f"sync4dgs {name}", description=f"{help_text}. {ALIAS_NOTE}",
                                         formatter_class=HelpFormatter)
    mod.add_arguments(cmd_parser)
    return mod, cmd_parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # First pass: find the command without parsing its own options.
    pre, _ = parser.parse_known_args(argv)
    if pre.command is None:
        parser.print_help()
        return 2
    mod, cmd_parser = build_command_parser(pre.command)
    rest = argv[argv.index(pre.command) + 1:]
    args = cmd_parser.parse_args(rest)
    logging.basicConfig(level=logging.DEBUG if pre.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(mod.run(args) or 0)
    except Sync4DGSError as e:
        print(f"sync4dgs {pre.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
