"""``python -m sync4dgs.train ARGS`` = ``sync4dgs train ARGS``; the module torchrun launches on every rank:

    torchrun --nproc_per_node 4 -m sync4dgs.train -m OUT -s SCENE --config configs/x.json
"""

from __future__ import annotations

import argparse
import logging
import sys

from sync4dgs.errors import Sync4DGSError
from sync4dgs.train.command import add_arguments, run
from sync4dgs.utils.cliopts import ALIAS_NOTE, HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The module's argument parser (the train command's options plus ``--verbose``)."""
    parser = argparse.ArgumentParser(prog="python -m sync4dgs.train",
                                     description="stage 2: train the 4D Gaussians jointly with camera time maps. "
                                                 + ALIAS_NOTE, formatter_class=HelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(run(args) or 0)
    except Sync4DGSError as e:
        print(f"python -m sync4dgs.train: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
