#!/usr/bin/env python3
"""Speed of sync4dgs.render.render() against raw gsplat.rasterization (GPU), or of the torch reference (CPU).

    python benchmarks/render_bench.py --out bench.json                  # 100k/1M/3M x 1352x1014, 2048x1088
    python benchmarks/render_bench.py --out bench.json --sizes 100000 --res 1352x1014 --repeats 10
    python benchmarks/render_bench.py --out cpu.json --cpu-reference    # torch reference, 5k @ 128x96, CPU

GPU mode: same scene, same arguments (SH degree 3, "RGB+ED", classic, non-packed, 1 camera) for both;
forward (grad enabled, no backward) and forward+backward times from CUDA events, after warm-up, median of
repeats, the two implementations interleaved. Overhead % = (render - raw) / raw * 100.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from sync4dgs.render import Gaussians, RenderCameras, has_cuda_backend, render  # noqa: E402
from sync4dgs.render.capability import cuda_backend_status  # noqa: E402
from sync4dgs.render.parity import RandomSceneConfig, random_scene  # noqa: E402
from sync4dgs.utils.atomic import write_json  # noqa: E402


def _ours(g: Gaussians, cams: RenderCameras, backward: bool) -> None:
    out = render(g, cams, backend="gsplat", sh_degree=3)
    if backward:
        (out.image.sum() + out.depth.sum()).backward()


def _raw(g: Gaussians, cams: RenderCameras, backward: bool) -> None:
    from gsplat import rasterization

    colors, _, _ = rasterization(g.means, g.quats, g.scales, g.opacities, g.colors, cams.viewmats, cams.Ks,
                                 cams.width, cams.height, near_plane=0.01, far_plane=1e10, eps2d=0.3,
                                 sh_degree=3, packed=False, backgrounds=None, render_mode="RGB+ED",
                                 absgrad=False, rasterize_mode="classic")
    if backward:
        (colors[..., :3].sum() + colors[..., 3:4].sum()).backward()


def _time_once(fn, g: Gaussians, cams: RenderCameras, backward: bool) -> float:
    for p in (g.means, g.quats, g.scales, g.opacities, g.colors):
        p.grad = None
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn(g, cams, backward)
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def bench_case(n: int, width: int, height: int, warmup: int, repeats: int, footprint: float,
               seed: int) -> dict:
    cfg = RandomSceneConfig(n_gaussians=n, width=width, height=height, n_cameras=1, sh_degree=3,
                            footprint_px=footprint, seed=seed)
    g, cams = random_scene(cfg, device="cuda", requires_grad=True)
    result = {"n_gaussians": n, "width": width, "height": height, "footprint_px": footprint}
    for backward in (False, True):
        for _ in range(warmup):
            _time_once(_raw, g, cams, backward)
            _time_once(_ours, g, cams, backward)
        raw_ms, ours_ms = [], []
        for _ in range(repeats):
            raw_ms.append(_time_once(_raw, g, cams, backward))
            ours_ms.append(_time_once(_ours, g, cams, backward))
        key = "fwd_bwd" if backward else "fwd"
        raw_med, ours_med = statistics.median(raw_ms), statistics.median(ours_ms)
        result[key] = {"raw_ms": raw_med, "render_ms": ours_med,
                       "overhead_pct": 100.0 * (ours_med - raw_med) / raw_med,
                       "raw_all_ms": raw_ms, "render_all_ms": ours_ms}
    torch.cuda.reset_peak_memory_stats()
    _ours(g, cams, True)
    torch.cuda.synchronize()
    result["peak_mem_gib_fwd_bwd"] = torch.cuda.max_memory_allocated() / 2**30
    del g, cams
    torch.cuda.empty_cache()
    return result


def cpu_reference(repeats: int, threads: int) -> dict:
    """Torch reference on CPU: 5k Gaussians, 128x96, SH degree 3, forward and forward+backward (wall s)."""
    torch.set_num_threads(threads)
    out = {"threads": threads, "cases": []}
    for name, opac in (("random", (0.05, 0.99)), ("opaque", (0.8, 0.99))):
        cfg = RandomSceneConfig(n_gaussians=5000, width=128, height=96, footprint_px=3.0, opacity_range=opac)
        g, cams = random_scene(cfg, requires_grad=True)
        fwd, bwd = [], []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            r = render(g, cams, backend="torch", sh_degree=3)
            t1 = time.perf_counter()
            (r.image.sum() + r.depth.sum()).backward()
            t2 = time.perf_counter()
            fwd.append(t1 - t0)
            bwd.append(t2 - t0)
        case = {"scene": name, "n_gaussians": 5000, "width": 128, "height": 96,
                "fwd_s": statistics.median(fwd[1:]), "fwd_bwd_s": statistics.median(bwd[1:]),
                "mean_alpha": float(r.alpha.detach().mean())}
        out["cases"].append(case)
        print(f"{name:<7} 5000 @ 128x96  forward {case['fwd_s']:.3f} s   "
              f"forward+backward {case['fwd_bwd_s']:.3f} s "
              f"(mean alpha {case['mean_alpha']:.2f}, {threads} threads)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="JSON report path (written atomically)")
    ap.add_argument("--sizes", type=str, default="100000,1000000,3000000")
    ap.add_argument("--res", type=str, default="1352x1014,2048x1088")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--footprint", type=float, default=None,
                    help="mean screen sigma in px (default: shrinks with N like a trained scene)")
    ap.add_argument("--cpu-reference", action="store_true", help="time the torch reference on CPU instead")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for --cpu-reference")
    args = ap.parse_args(argv)

    meta = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
    if args.cpu_reference:
        report = {**meta, "mode": "cpu-reference", **cpu_reference(max(args.repeats // 4, 3), args.threads)}
        write_json(args.out, report)
        return 0
    if not has_cuda_backend():
        print(f"gsplat CUDA backend unavailable: {cuda_backend_status()[1]}", file=sys.stderr)
        return 2

    sizes = [int(s) for s in args.sizes.split(",")]
    res = [tuple(int(v) for v in r.lower().split("x")) for r in args.res.split(",")]
    print(f"{'N':>8} {'res':<10} {'fwd raw':>9} {'fwd ours':>9} {'ovh%':>6} {'f+b raw':>9} {'f+b ours':>9} "
          f"{'ovh%':>6} {'peak GiB':>8}")
    cases = []
    for i, n in enumerate(sizes):
        for w, h in res:
            fp = args.footprint
            if fp is None:  # smaller Gaussians in denser scenes, as in trained models
                fp = max(0.5, 2.0 * (100_000 / n) ** 0.5 * w / 1352)
            c = bench_case(n, w, h, args.warmup, args.repeats, fp, seed=i)
            cases.append(c)
            f, fb = c["fwd"], c["fwd_bwd"]
            print(f"{n:>8} {w:>4}x{h:<5} {f['raw_ms']:8.2f}ms {f['render_ms']:8.2f}ms "
                  f"{f['overhead_pct']:6.1f} {fb['raw_ms']:8.2f}ms {fb['render_ms']:8.2f}ms "
                  f"{fb['overhead_pct']:6.1f} "
                  f"{c['peak_mem_gib_fwd_bwd']:8.2f}", flush=True)
    report = {**meta, "mode": "gpu", "device": torch.cuda.get_device_name(0),
              "gsplat": importlib.metadata.version("gsplat"), "warmup": args.warmup, "repeats": args.repeats,
              "cases": cases}
    write_json(args.out, report)
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
