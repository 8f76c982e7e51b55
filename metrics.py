"""Thin wrapper: `python metrics.py ...` is `sync4dgs metrics ...` (the original 3DGS/Ex4DGS entry point)."""

import sys

from sync4dgs.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["metrics", *sys.argv[1:]]))
