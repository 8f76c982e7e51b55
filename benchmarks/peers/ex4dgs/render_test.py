"""Render the held-out test view of a trained Ex4DGS model at every test timestamp, and time it (our code).

    python benchmarks/peers/ex4dgs/render_test.py --ex4dgs SRC --model M --out DIR [--iteration -1]
        [--background 0,0,0] [--fps_rounds 20]

Loads the model as Ex4DGS's own render.py does (its argument groups with ``get_combined_args`` reading
``M/cfg_args``, ``CGaussianModel(sh_degree, duration, time_interval, time_pad, interp_type, time_pad_type)`` and
``Scene(..., load_iteration, opt)``, which restores ``chkpnt<N>.pth`` when present, else the PLY files) and
renders each test camera with its ``gaussian_renderer.render``. Its render.py itself is not used: it also
computes LPIPS with weights it downloads, and times renders without synchronising the GPU.

Writes DIR/<timestamp:05d>.png (8-bit RGB, clamped to [0, 1]) and DIR/render_stats.json: iteration, views,
render FPS (``fps_rounds`` passes over all test views after 10 warm-up renders, timed with CUDA
synchronisation, image stays on the GPU), numbers of static / dynamic Gaussians, model size on disk
(point_cloud/iteration_N/*.ply) and peak GPU memory while rendering. Background: black by default (our
evaluation's; Ex4DGS trains with random backgrounds; its render.py uses white).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ex4dgs", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--iteration", type=int, default=-1)
    ap.add_argument("--background", default="0,0,0")
    ap.add_argument("--fps_rounds", type=int, default=20)
    args = ap.parse_args(argv)
    src, model = Path(args.ex4dgs).resolve(), Path(args.model).resolve()
    if not (model / "cfg_args").is_file():
        raise SystemExit(f"{model}: no cfg_args (not a trained Ex4DGS model folder)")
    sys.path.insert(0, str(src))
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # its checkpoints hold numpy scalars (torch >= 2.6)

    import torch  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    from arguments import ModelParams, OptimizationParams, PipelineParams, get_combined_args  # noqa: PLC0415
    from gaussian_renderer import render  # noqa: PLC0415
    from scene import Scene  # noqa: PLC0415
    from scene.c_gaussian_model import CGaussianModel  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    mp, op, pp = ModelParams(parser, sentinel=True), OptimizationParams(parser), PipelineParams(parser)
    parser.add_argument("--iteration", default=-1, type=int)
    parser.add_argument("--quiet", action="store_true")
    saved_argv = sys.argv
    sys.argv = ["render.py", "--model_path", str(model), "--iteration", str(args.iteration)]
    try:
        eargs = get_combined_args(parser)
    finally:
        sys.argv = saved_argv
    dataset, opt, pipe = mp.extract(eargs), op.extract(eargs), pp.extract(eargs)
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bg = torch.tensor([float(v) for v in args.background.split(",")], dtype=torch.float32, device="cuda")
    with torch.no_grad():
        gaussians = CGaussianModel(dataset.sh_degree, dataset.duration, dataset.time_interval, dataset.time_pad,
                                   interp_type=dataset.interp_type, time_pad_type=dataset.time_pad_type)
        scene = Scene(dataset, gaussians, load_iteration=args.iteration, shuffle=False, opt=opt)
        cams, _ = scene.getTestCameras(shuffle=False, get_img=False)
        cams = sorted(cams, key=lambda c: c.timestamp)
        if not cams:
            raise SystemExit(f"{model}: no test cameras")
        torch.cuda.reset_peak_memory_stats()

        def draw(cam):
            return render(cam, gaussians, pipe, bg, near=dataset.near, far=dataset.far)["render"]

        for cam in cams:
            img = draw(cam).clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(out / f"{int(cam.timestamp):05d}.png")
        for k in range(10):
            draw(cams[k % len(cams)])
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.fps_rounds):
            for cam in cams:
                draw(cam)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    it = scene.loaded_iter
    pc_dir = model / "point_cloud" / f"iteration_{it}"
    size = sum(f.stat().st_size for f in pc_dir.glob("*.ply"))
    ckpt = model / f"chkpnt{it}.pth"
    stats = {"iteration": int(it), "views": len(cams), "width": int(cams[0].image_width),
             "height": int(cams[0].image_height), "render_fps": args.fps_rounds * len(cams) / dt,
             "fps_renders": args.fps_rounds * len(cams), "n_static": int(gaussians._xyz.shape[0]),
             "n_dynamic": int(gaussians._xyz_motion.shape[0]), "model_ply_bytes": int(size),
             "checkpoint_bytes": int(ckpt.stat().st_size) if ckpt.is_file() else None,
             "render_peak_memory_allocated_bytes": int(torch.cuda.max_memory_allocated()),
             "loaded_from": "checkpoint" if ckpt.is_file() else "ply", "background": args.background,
             "device": torch.cuda.get_device_name()}
    tmp = out / ".render_stats.json.tmp"
    tmp.write_text(json.dumps(stats, indent=1) + "\n")
    os.replace(tmp, out / "render_stats.json")
    print(f"render_test: {len(cams)} views at iteration {it}, {stats['render_fps']:.0f} FPS, "
          f"{stats['n_static']} static + {stats['n_dynamic']} dynamic Gaussians", file=sys.__stdout__, flush=True)
    os._exit(0)   # Ex4DGS's worker pool is not ours to wind down


if __name__ == "__main__":
    main()
