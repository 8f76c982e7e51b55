#!/usr/bin/env python3
"""gsplat CUDA backend vs the pure-torch reference: images and gradients on random scenes (GPU).

    python benchmarks/render_parity.py --out parity.json            # full sweep (a few minutes on an H100)
    python benchmarks/render_parity.py --out parity.json --quick    # small sweep

For every (N Gaussians, resolution, rasterize mode) it renders the same scene with both backends (float32,
2 cameras, SH degree 3 unless --rgb), backpropagates the same random loss (image, alpha and depth terms)
and reports: image/alpha/depth max |diff|, 99.9th percentile and fraction of values above 1e-3; per-
Gaussian gradient relative error (median/p99/max) for means, quats, scales, opacities, colours and means2d;
visibility and radius mismatches. Pass: image and alpha p99.9 < 1e-3 with < 0.1 % of values above 1e-3,
and every gradient median < 1e-2. Exit code 0 when every case passes, 1 otherwise, 2 when gsplat's CUDA
backend is unavailable.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from sync4dgs.render import has_cuda_backend  # noqa: E402
from sync4dgs.render.capability import cuda_backend_status  # noqa: E402
from sync4dgs.render.parity import RandomSceneConfig, compare_runs, run_backend  # noqa: E402
from sync4dgs.utils.atomic import write_json  # noqa: E402

FULL_SIZES = (1_000, 10_000, 100_000)
FULL_RES = ((256, 192), (640, 480), (1280, 720))
QUICK_SIZES = (1_000, 10_000)
QUICK_RES = ((256, 192), (640, 480))


def footprint_for(n: int, width: int) -> float:
    """Mean screen sigma (px) so that denser clouds use smaller Gaussians, as trained scenes do."""
    return max(0.7, min(6.0, 3.0 * (width / 640.0) * (10_000 / n) ** 0.5))


def passed(stats: dict) -> bool:
    ok = all(stats[k]["p999"] < 1e-3 and stats[k]["frac_above_tol"] < 1e-3 for k in ("image", "alpha"))
    return ok and all(s["median"] < 1e-2 for s in stats["grads"].values())


def run_case(n: int, width: int, height: int, antialiased: bool, sh_degree: int | None, packed: bool,
             seed: int, device: str = "cuda", test_backend: str = "gsplat") -> dict:
    cfg = RandomSceneConfig(n_gaussians=n, width=width, height=height, n_cameras=2, sh_degree=sh_degree,
                            footprint_px=footprint_for(n, width), seed=seed)
    bg = (0.1, 0.2, 0.3)
    ref = run_backend(cfg, "torch", device=device, antialiased=antialiased, background=bg)
    test = run_backend(cfg, test_backend, device=device, antialiased=antialiased, background=bg, packed=packed)
    stats = compare_runs(ref, test, depth_scale=cfg.cam_distance)
    del ref, test
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"n_gaussians": n, "width": width, "height": height,
            "mode": "antialiased" if antialiased else "classic", "sh_degree": sh_degree, "packed": packed,
            "footprint_px": cfg.footprint_px, "stats": stats, "pass": passed(stats)}


def row(case: dict) -> str:
    s = case["stats"]
    g = s["grads"]
    worst_med = max(v["median"] for v in g.values())
    worst_p99 = max(v["p99"] for v in g.values())
    return (f"{case['n_gaussians']:>7} {case['width']:>4}x{case['height']:<4} {case['mode']:<11} "
            f"{'pk' if case['packed'] else '  '} {s['image']['max']:9.2e} {s['image']['p999']:9.2e} "
            f"{s['image']['frac_above_tol']:9.2e} {s['alpha']['max']:9.2e} {s['depth']['p999']:9.2e} "
            f"{g['means']['median']:9.2e} {g['scales']['median']:9.2e} {g['colors']['median']:9.2e} "
            f"{worst_med:9.2e} {worst_p99:9.2e} {s['radii_mismatch_frac']:8.1e} "
            f"{s['seconds']['ref']:7.2f} {s['seconds']['test']:7.3f}  {'PASS' if case['pass'] else 'FAIL'}")


HEADER = (f"{'N':>7} {'res':<9} {'mode':<11}    {'img max':>9} {'img p999':>9} {'img >1e-3':>9} {'a max':>9} "
          f"{'dep p999':>9} {'g means':>9} {'g scales':>9} {'g colors':>9} {'g worst':>9} {'g wp99':>9} "
          f"{'radii!=':>8} {'ref s':>7} {'gsplat s':>7}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="JSON report path (written atomically)")
    ap.add_argument("--quick", action="store_true", help="small sweep")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated N, e.g. 1000,10000")
    ap.add_argument("--res", type=str, default=None, help="comma-separated WxH, e.g. 256x192,640x480")
    ap.add_argument("--rgb", action="store_true", help="plain RGB colours instead of SH degree 3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-backend", default="gsplat", choices=("gsplat", "torch"),
                    help="backend checked against the reference ('torch' + --device cpu: a dry run of this script)")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    args = ap.parse_args(argv)

    if args.test_backend == "gsplat" and not has_cuda_backend():
        print(f"gsplat CUDA backend unavailable: {cuda_backend_status()[1]}", file=sys.stderr)
        return 2
    sizes = (tuple(int(s) for s in args.sizes.split(",")) if args.sizes
             else (QUICK_SIZES if args.quick else FULL_SIZES))
    res = (tuple(tuple(int(v) for v in r.lower().split("x")) for r in args.res.split(",")) if args.res
           else (QUICK_RES if args.quick else FULL_RES))
    sh = None if args.rgb else 3

    cases = []
    plan = [(n, w, h, aa, False) for n in sizes for (w, h) in res for aa in (False, True)]
    plan.append((sizes[len(sizes) // 2], res[0][0], res[0][1], False, True))  # one packed case
    print(HEADER)
    for i, (n, w, h, aa, packed) in enumerate(plan):
        t0 = time.perf_counter()
        try:
            case = run_case(n, w, h, aa, sh, packed, args.seed + i, args.device, args.test_backend)
        except torch.cuda.OutOfMemoryError as exc:
            case = {"n_gaussians": n, "width": w, "height": h, "mode": "antialiased" if aa else "classic",
                    "packed": packed, "error": f"CUDA out of memory: {exc}", "pass": False}
            torch.cuda.empty_cache()
            print(f"{n:>7} {w:>4}x{h:<4} out of memory (reference backend); skipped", flush=True)
            cases.append(case)
            continue
        case["wall_s"] = time.perf_counter() - t0
        cases.append(case)
        print(row(case), flush=True)

    n_pass = sum(c["pass"] for c in cases)
    report = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or "cpu",
        "test_backend": args.test_backend,
        "torch": torch.__version__,
        "gsplat": importlib.metadata.version("gsplat"),
        "python": platform.python_version(),
        "criteria": ("image/alpha p99.9 < 1e-3 and frac>1e-3 < 1e-3; "
                     "per-Gaussian grad rel. error median < 1e-2"),
        "cases": cases,
        "passed": n_pass,
        "total": len(cases),
    }
    write_json(args.out, report)
    print(f"\n{n_pass}/{len(cases)} cases pass; report written to {args.out}")
    return 0 if n_pass == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
