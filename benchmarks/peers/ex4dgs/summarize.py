"""One markdown table from score.py's <scene>_peers.json files (quality on the common frames, cost, sizes).

    python benchmarks/peers/ex4dgs/summarize.py OUT/demo_peers.json OUT/blobs_peers.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("scene", "run", "frames", "PSNR", "SSIM", "moving PSNR", "static PSNR", "moving_true PSNR", "iters",
           "train loop s", "peak GPU MiB", "render FPS", "Gaussians static+dynamic", "model MiB",
           "input time error mean/max [frames]")


def _f(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def rows(path: Path) -> list[list[str]]:
    """Table rows of one peers.json."""
    d = json.loads(path.read_text())
    scene = path.name.removesuffix("_peers.json")
    out = []
    for name, r in d["runs"].items():
        c, reg = r["common"], r["common"]["regions"]
        ts, rs = r.get("train_stats", {}), r.get("render_stats", {})
        err = r.get("input_time_error_frames")
        if r.get("kind") == "sync4dgs":   # our train_stats.json / results.json keys, mapped onto Ex4DGS's columns
            res = r.get("results", {})
            ts = {"iterations_done": ts.get("iterations"), "completed": True, "train_loop_s": ts.get("train_seconds"),
                  "peak_memory_allocated_bytes": None if ts.get("peak_gpu_allocated_gib") is None
                  else ts["peak_gpu_allocated_gib"] * 2**30}
            model = res.get("model") or {}
            rs = {"render_fps": (res.get("render_speed") or {}).get("fps"),
                  "model_ply_bytes": None if model.get("size_mb") is None else model["size_mb"] * 2**20,
                  **({"n_static": model["n_static"], "n_dynamic": model["n_dynamic"]} if "n_static" in model else {})}
        iters = ts.get("iterations_done")
        mem = ts.get("peak_memory_allocated_bytes")
        size = rs.get("model_ply_bytes")
        n = f"{rs['n_static']}+{rs['n_dynamic']}" if "n_static" in rs else "-"
        out.append([scene, name, str(c["frames"]), _f(c["psnr"], ".2f"), _f(c["ssim"], ".4f"),
                    _f(reg.get("moving", {}).get("psnr"), ".2f"), _f(reg.get("static", {}).get("psnr"), ".2f"),
                    _f(reg.get("moving_true", {}).get("psnr"), ".2f"),
                    "-" if iters is None else f"{iters}{'' if ts.get('completed') else ' (cap)'}",
                    _f(ts.get("train_loop_s"), ".1f"), _f(None if mem is None else mem / 2**20, ".0f"),
                    _f(rs.get("render_fps"), ".0f"), n, _f(None if size is None else size / 2**20, ".2f"),
                    "-" if err is None else f"{err['mean_abs']:.3f}/{err['max_abs']:.3f}"])
    return out


def main(argv: list[str]) -> int:
    table = [list(COLUMNS), ["---"] * len(COLUMNS)]
    for p in argv:
        if Path(p).is_file():
            table += rows(Path(p))
    print("\n".join("| " + " | ".join(r) + " |" for r in table))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
