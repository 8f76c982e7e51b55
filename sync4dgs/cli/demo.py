"""``sync4dgs demo``: the whole pipeline on a small built-in unsynchronized scene, end to end.

Arguments only; the pipeline (synth -> stage 1 -> stage 2 learned + naive -> render -> metrics -> tables) and
its outputs are described in sync4dgs/demo/pipeline.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.demo.pipeline import QUICK_EVAL_FRAMES, QUICK_ITERATIONS, run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny scene (4 cameras x 24 frames, 96x72), {QUICK_ITERATIONS} iterations, "
                             f"{QUICK_EVAL_FRAMES} evaluated test frames: a smoke test, not a quality run")
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default ./demo_output)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto: CUDA when available)")
    parser.add_argument("--config", type=Path, default=None,
                        help="stage-2 config (default: configs/demo.json of the sync4dgs checkout)")
    parser.add_argument("--iterations", type=int, default=None, help="override the stage-2 iterations")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")



def run(args: argparse.Namespace) -> int:
    return run_demo(quick=args.quick, out=args.out, device=args.device, config=args.config,
                    iterations=args.iterations, seed=args.seed)
