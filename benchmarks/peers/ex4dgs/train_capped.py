"""Run Ex4DGS's own ``train.py`` unchanged, with a wall-clock cap, and record time and peak GPU memory (our code).

    python benchmarks/peers/ex4dgs/train_capped.py --ex4dgs SRC --time_cap_s 240 --stats STATS.json -- \
        --configpath CFG.json --source_path FOLDER --model_path M [other train.py options]

``train.py`` is executed as ``__main__`` in this process (``runpy``), so its algorithm, defaults and output
folder are exactly upstream's. This wrapper only observes, by wrapping two of its methods:

* ``CGaussianModel.update_learning_rate(iteration)``, which train.py calls at the start of every iteration:
  the first call marks the end of the set-up (scene loading, initialisation); when the cap is reached there,
  the model of the last COMPLETED iteration is written the way train.py writes it (``scene.save`` ->
  point_cloud/iteration_N/, and ``chkpnt<N>.pth`` from ``gaussians.capture()``), and the run stops.
* ``Scene.__init__``, to know the scene object for that save.

STATS.json: ``completed`` (all iterations ran), ``iterations_done``, ``setup_s`` (start -> first iteration),
``train_loop_s`` (first iteration -> end of the last one, saves included), ``wall_s``, peak GPU memory
allocated / reserved by PyTorch in this process (bytes), the cap and the argv. Written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
from pathlib import Path


class TimeCap(Exception):
    """Raised inside train.py's loop when the wall-clock cap is reached."""


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("usage: train_capped.py --ex4dgs SRC --time_cap_s S --stats FILE -- <train.py args>")
    cut = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ex4dgs", required=True, help="Ex4DGS source tree (train.py, scene/, ...)")
    ap.add_argument("--time_cap_s", type=float, required=True, help="stop (and save) after this many seconds")
    ap.add_argument("--stats", required=True, help="JSON file to write")
    args = ap.parse_args(argv[:cut])
    train_args = argv[cut + 1:]
    src = Path(args.ex4dgs).resolve()
    if not (src / "train.py").is_file():
        raise SystemExit(f"{src}: no train.py (not an Ex4DGS source tree)")
    sys.path.insert(0, str(src))

    import torch  # noqa: PLC0415

    import scene as ex_scene  # noqa: PLC0415  (Ex4DGS's package, from its source tree)
    from scene.c_gaussian_model import CGaussianModel  # noqa: PLC0415

    t_start = time.perf_counter()
    state: dict = {"scene": None, "t_first": None, "last_iter": 0, "t_last": None}
    orig_init, orig_lr = ex_scene.Scene.__init__, CGaussianModel.update_learning_rate

    def scene_init(self, *a, **k):
        orig_init(self, *a, **k)
        state["scene"] = self

    def update_lr(self, iteration):
        now = time.perf_counter()
        if state["t_first"] is None:
            state["t_first"] = now
        elif now - t_start > args.time_cap_s:
            done = iteration - 1
            torch.cuda.synchronize()
            state["scene"].save(done)
            torch.save((self.capture(), done), os.path.join(state["scene"].model_path, f"chkpnt{done}.pth"))
            state["t_last"] = time.perf_counter()
            raise TimeCap(done)
        state["last_iter"] = iteration - 1
        return orig_lr(self, iteration)

    ex_scene.Scene.__init__, CGaussianModel.update_learning_rate = scene_init, update_lr
    sys.argv = [str(src / "train.py"), *train_args]
    completed, done = True, None
    try:
        runpy.run_path(str(src / "train.py"), run_name="__main__")
    except TimeCap as e:
        completed, done = False, int(e.args[0])
    torch.cuda.synchronize()
    t_end = state["t_last"] or time.perf_counter()
    if done is None:
        done = state["last_iter"] + 1
    t_first = state["t_first"] or t_end
    stats = {"completed": completed, "iterations_done": done, "time_cap_s": args.time_cap_s,
             "setup_s": round(t_first - t_start, 3), "train_loop_s": round(t_end - t_first, 3),
             "wall_s": round(t_end - t_start, 3),
             "peak_memory_allocated_bytes": int(torch.cuda.max_memory_allocated()),
             "peak_memory_reserved_bytes": int(torch.cuda.max_memory_reserved()),
             "device": torch.cuda.get_device_name(), "train_args": train_args}
    _write_json(Path(args.stats), stats)
    print(f"train_capped: {'completed' if completed else 'time cap'} at iteration {done}, loop "
          f"{stats['train_loop_s']:.1f} s, peak {stats['peak_memory_allocated_bytes'] / 2**20:.0f} MiB", file=sys.__stdout__, flush=True)
    sys.stderr.flush()
    os._exit(0)   # train.py's image-loading worker pool and GUI socket are not ours to wind down


if __name__ == "__main__":
    main()
