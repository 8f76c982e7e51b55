"""``python -m sync4dgs``: the CLI (sync4dgs/cli/main.py). Guarded, so that a process started with
multiprocessing's spawn can import this module without running the CLI."""

import sys

from sync4dgs.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
