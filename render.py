"""Thin wrapper: `python render.py ...` is `sync4dgs render ...` (the original 3DGS/Ex4DGS entry point)."""

import sys

from sync4dgs.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["render", *sys.argv[1:]]))
