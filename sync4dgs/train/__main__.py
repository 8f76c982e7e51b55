"""``python -m sync4dgs.train ARGS`` = ``sync4dgs train ARGS``; the module torchrun launches on every rank:

    torchrun --nproc_per_node 4 -m sync4dgs.train -m OUT -s SCENE --config configs/x.json
"""

from __future__ import annotations

import argparse
import logging
import sys

from sync4dgs.errors import Sync4DGSError
from sync4dgs.train.command import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync4dgs.train",
                                     description="stage 2: train the 4D Gaussians jointly with camera time maps")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(run(args) or 0)
    except Sync4DGSError as e:
        print(f"python -m sync4dgs.train: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
