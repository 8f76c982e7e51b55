#!/usr/bin/env python
"""``python train.py --config configs/x.json --model_path OUT --source_path SCENE [...]`` = ``sync4dgs train ...``."""

import sys

from sync4dgs.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
