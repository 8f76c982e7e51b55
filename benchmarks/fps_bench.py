#!/usr/bin/env python3
"""Render speed of a 4D model: per-frame time of at_time alone, render alone and both, over a sweep of times.

    python benchmarks/fps_bench.py --model M --out fps_out                       # a trained model folder
    python benchmarks/fps_bench.py --random 100000,35000,30 --out fps_out        # random static,dynamic,keyframes
    python benchmarks/fps_bench.py --random 300,100,8 --res 64x48 --device cpu --times 4 --warmup 1 --out o

Two ways to evaluate the model are compared: "plain" = ``model.at_time(t)`` (the differentiable training path)
and "fast" = ``model.inference_view().at_time(t)`` (sync4dgs/model/inference.py: cached static part,
preallocated output; what eval, export and the viewer use) and "compact" =
``model.inference_view(compact=True).at_time(t)`` (also leaves out the dynamic Gaussians invisible at t; same image,
compared below). Both run under ``torch.inference_mode``; renders use SH degree = the model's, RGB only,
one camera, like ``sync4dgs render`` / the viewer.

Timing: CUDA events (host clock on CPU) after ``--warmup`` untimed frames. "latency" = median over frames of
one frame timed alone (synchronised after each frame); "throughput" = the whole sweep back to back (one
synchronisation at the end) / number of frames, i.e. what a video export or the viewer sustains. FPS is
1000 / throughput ms. Intrinsics: the scene camera's (``--camera``, default the first test camera, else the
reference) scaled to each resolution; without a scene, a synthetic 60-degree camera looking at the Gaussians.

Writes ``OUT/fps_bench.json`` and ``OUT/fps_bench.md`` and prints the markdown table last.
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sync4dgs.model.config import ModelConfig  # noqa: E402
from sync4dgs.model.gaussians4d import Gaussians4D  # noqa: E402
from sync4dgs.render import render  # noqa: E402
from sync4dgs.render.conventions import fov_to_focal, look_at_viewmat, pinhole_K  # noqa: E402
from sync4dgs.render.types import Gaussians, RenderCameras  # noqa: E402
from sync4dgs.utils.atomic import atomic_path, write_json  # noqa: E402
from sync4dgs.utils.device import resolve_device  # noqa: E402

log = logging.getLogger("fps_bench")
PATHS = ("plain", "fast", "compact")


# ----------------------------------------------------------------------------------------------- inputs
def random_model(n_static: int, n_dynamic: int, n_keys: int, device: torch.device, seed: int = 0,
                 duration_s: float = 10.0, window_s: float = 0.0) -> Gaussians4D:
    """A random Gaussians4D (SH degree 3) in [-1, 1]^3: scales ~0.01, keyframes spanning ``duration_s``.
    ``window_s`` > 0: each dynamic Gaussian is visible around one random instant only (plateau ``window_s``,
    falloff 0.35 x ``window_s``, seconds), like moving-content seeds; 0: random long windows."""
    if n_keys < 1 or n_static < 0 or n_dynamic < 0 or n_static + n_dynamic == 0:
        raise SystemExit(f"--random needs N_STATIC,N_DYNAMIC,K with N >= 0 and K >= 1, got "
                         f"{n_static},{n_dynamic},{n_keys}")
    g = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(sh_degree=3)
    B = cfg.num_sh_bases

    def common(n: int) -> dict[str, torch.Tensor]:
        return {"scales": math.log(0.01) + 0.3 * torch.randn(n, 3, generator=g),
                "opacities": torch.randn(n, generator=g), "sh0": torch.randn(n, 1, 3, generator=g),
                "shN": 0.1 * torch.randn(n, B - 1, 3, generator=g)}

    static = {"means": 2 * torch.rand(n_static, 3, generator=g) - 1,
              "quats": torch.randn(n_static, 4, generator=g), **common(n_static)}
    dt = duration_s / max(n_keys - 1, 1)
    base = 2 * torch.rand(n_dynamic, 1, 3, generator=g) - 1
    dynamic = {"key_means": base + 0.02 * torch.randn(n_dynamic, n_keys, 3, generator=g).cumsum(1),
               "key_quats": torch.randn(n_dynamic, n_keys, 4, generator=g),
               "t_center": (torch.rand(n_dynamic, 2, generator=g) * duration_s).sort(dim=1).values,
               "t_logwidth": torch.full((n_dynamic, 2), math.log(0.2)), **common(n_dynamic)}
    if window_s > 0:
        c = torch.rand(n_dynamic, 1, generator=g) * duration_s
        dynamic["t_center"] = c + torch.tensor([-0.5, 0.5]) * window_s
        dynamic["t_logwidth"] = torch.full((n_dynamic, 2), math.log(0.35 * window_s))
    return Gaussians4D(cfg, static, dynamic, 0.0, dt).to(device)


def synthetic_camera(model: Gaussians4D, width: int, height: int, device: torch.device) -> RenderCameras:
    """A 60-degree camera at 2.5 x the 90th-percentile radius of the Gaussians, looking at their median."""
    with torch.no_grad():
        g = model.inference_view().at_time(float(model.key_t0_s))
        pts = g.means.double().cpu()
        centre = pts.median(dim=0).values
        radius = float(torch.quantile((pts - centre).norm(dim=1)[:100_000], 0.9)) if len(pts) else 1.0
    eye = centre - torch.tensor([0.0, 0.0, 2.5 * max(radius, 1e-3)], dtype=torch.float64)
    viewmat = look_at_viewmat(eye, centre, up=torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64))
    f = fov_to_focal(math.radians(60.0), width)
    K = pinhole_K(f, f, width / 2, height / 2, dtype=torch.float64)
    return RenderCameras(viewmats=viewmat[None].float().to(device), Ks=K[None].float().to(device),
                         width=width, height=height)


def scene_camera(cam, width: int, height: int, device: torch.device) -> RenderCameras:
    """A scene CameraSpec with its intrinsics scaled to ``width`` x ``height`` (anisotropically if needed)."""
    K = np.asarray(cam.K, dtype=np.float64).copy()
    K[0] *= width / float(cam.width)
    K[1] *= height / float(cam.height)
    return RenderCameras(viewmats=torch.as_tensor(np.asarray(cam.viewmat), dtype=torch.float32, device=device)[None],
                         Ks=torch.as_tensor(K, dtype=torch.float32, device=device)[None], width=width, height=height)


def load_model(args, device: torch.device):
    """(model, scene camera spec or None, description)."""
    if args.random:
        try:
            ns, nd, k = (int(v) for v in args.random.split(","))
        except ValueError as e:
            raise SystemExit(f"--random expects N_STATIC,N_DYNAMIC,K (e.g. 100000,35000,30), "
                             f"got {args.random!r}") from e
        return (random_model(ns, nd, k, device, args.seed, window_s=args.window_s), None,
                f"random {ns} static + {nd} dynamic, K={k}" + (f", windows {args.window_s} s" if args.window_s else ""))
    from sync4dgs.errors import DataFormatError  # noqa: PLC0415
    from sync4dgs.eval.loading import resolve_scene  # noqa: PLC0415
    from sync4dgs.model.io import load_trained  # noqa: PLC0415

    trained = load_trained(args.model, args.iteration, device=device)
    cam = None
    try:
        scene = resolve_scene(args.model, args.source_path, trained.meta)
        name = args.camera or (scene.test_cameras[0] if scene.test_cameras else scene.reference_camera)
        cam = scene.camera(name)
    except (DataFormatError, FileNotFoundError, KeyError, ValueError) as e:
        log.warning("no scene camera (%s): using a synthetic camera", e)
    return trained.model, cam, f"{args.model} (iteration {trained.iteration})"


# ----------------------------------------------------------------------------------------------- timing
class Clock:
    """Elapsed milliseconds of device work: CUDA events on CUDA, the host clock (work is synchronous) on CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def start(self):
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def stop(self, start) -> float:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        return 1000.0 * (time.perf_counter() - start)


def measure(fn: Callable[[float], object], times: list[float], clock: Clock, warmup: int) -> dict[str, float]:
    """Latency (median / min of frames timed alone) and throughput (sweep back to back) of ``fn(t)`` in ms."""
    for i in range(warmup):
        fn(times[i % len(times)])
    lat = []
    for t in times:
        s = clock.start()
        fn(t)
        lat.append(clock.stop(s))
    s = clock.start()
    for t in times:
        fn(t)
    total = clock.stop(s)
    return {"latency_ms": statistics.median(lat), "latency_min_ms": min(lat),
            "throughput_ms": total / len(times), "fps": 1000.0 * len(times) / total}


def max_diff(a: Gaussians, b: Gaussians) -> float:
    return max(float((getattr(a, f).float() - getattr(b, f).float()).abs().max())
               for f in ("means", "quats", "scales", "opacities", "colors")) if a.n else 0.0


def bench_resolution(model: Gaussians4D, cams: RenderCameras, times: list[float], args, clock: Clock) -> dict:
    sh = model.config.sh_degree
    bg = torch.zeros(3, dtype=torch.float32, device=cams.viewmats.device)
    view, compact = model.inference_view(), model.inference_view(compact=True)
    evaluate = {"plain": lambda t: model.at_time(t), "fast": lambda t: view.at_time(t),
                "compact": lambda t: compact.at_time(t)}

    def draw(g: Gaussians):
        return render(g, cams, backend=args.backend, sh_degree=sh, background=bg, render_depth=False)

    res: dict = {"width": cams.width, "height": cams.height, "paths": {}}
    with torch.inference_mode():
        g0 = view.at_time(times[0])                 # a private copy: the view reuses its buffers
        g_fixed = Gaussians(g0.means.clone(), g0.quats.clone(), g0.scales.clone(), g0.opacities.clone(),
                            g0.colors.clone())
        res["render"] = measure(lambda t: draw(g_fixed), times, clock, args.warmup)
        for path in args.paths:
            ev = evaluate[path]
            res["paths"][path] = {"at_time": measure(ev, times, clock, args.warmup),
                                  "both": measure(lambda t, ev=ev: draw(ev(t)), times, clock, args.warmup)}
        if {"plain", "fast"} <= set(args.paths):   # the two evaluations agree (float rounding only)
            checks = times[:: max(1, len(times) // 4)]
            res["fast_vs_plain_max_abs_diff"] = max(max_diff(model.at_time(t), view.at_time(t)) for t in checks)
            img_a = draw(model.at_time(checks[0])).image
            img_b = draw(view.at_time(checks[0])).image
            res["fast_vs_plain_image_max_abs_diff"] = float((img_a - img_b).abs().max())
        if "compact" in args.paths:                # leaving out invisible rows does not change the image
            checks = times[:: max(1, len(times) // 4)]
            res["compact_vs_fast_image_max_abs_diff"] = max(
                float((draw(view.at_time(t)).image - draw(compact.at_time(t)).image).abs().max()) for t in checks)
            res["compact_rows_mean"] = float(np.mean([compact.at_time(t).n for t in checks]))
        res["backend"] = str(draw(g_fixed).info.get("backend"))
    return res


def markdown(report: dict) -> str:
    rows = ["| resolution | path | at_time ms | render ms | both ms (latency) | both ms (throughput) | FPS |",
            "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        for path, p in r["paths"].items():
            rows.append(f"| {r['width']}x{r['height']} | {path} | {p['at_time']['latency_ms']:.3f} | "
                        f"{r['render']['latency_ms']:.3f} | {p['both']['latency_ms']:.3f} | "
                        f"{p['both']['throughput_ms']:.3f} | {p['both']['fps']:.1f} |")
    head = (f"{report['model']} — {report['n_static']} static + {report['n_dynamic']} dynamic Gaussians, "
            f"K={report['num_keyframes']}, {report['device_name']}, backend {report['results'][0]['backend']}, "
            f"{report['n_times']} times, camera: {report['camera']}")
    diffs = [f"{r['width']}x{r['height']}: Gaussians {r['fast_vs_plain_max_abs_diff']:.2e}, image "
             f"{r['fast_vs_plain_image_max_abs_diff']:.2e}" for r in report["results"]
             if "fast_vs_plain_max_abs_diff" in r]
    tail = ["", "fast vs plain max abs diff — " + "; ".join(diffs)] if diffs else []
    compact = [f"{r['width']}x{r['height']}: {r['compact_rows_mean']:.0f} rows on average, image max abs diff "
               f"{r['compact_vs_fast_image_max_abs_diff']:.2e}" for r in report["results"] if "compact_rows_mean" in r]
    tail += ["", "compact vs fast — " + "; ".join(compact)] if compact else []
    return "\n".join([head, "", *rows, *tail]) + "\n"


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="trained model folder M (point_cloud/iteration_<n>/model.pt)")
    src.add_argument("--random", type=str, help="N_STATIC,N_DYNAMIC,K: a random model instead")
    ap.add_argument("--iteration", type=int, default=None)
    ap.add_argument("--window_s", type=float, default=0.0,
                    help="--random: each dynamic Gaussian visible around one instant for this long (s), like seeds")
    ap.add_argument("--source_path", type=Path, default=None, help="scene folder (default: the model's record)")
    ap.add_argument("--camera", type=str, default=None, help="scene camera whose pose/intrinsics are used")
    ap.add_argument("--out", type=Path, required=True, help="output folder (fps_bench.json / .md)")
    ap.add_argument("--res", type=str, default="1352x1014,2048x1088")
    ap.add_argument("--device", type=str, default="auto")
    ap.add_argument("--backend", type=str, default="auto", choices=["auto", "torch", "gsplat"])
    ap.add_argument("--times", type=int, default=120, help="frames in the time sweep")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--paths", type=str, default="plain,fast,compact")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.paths = [p for p in args.paths.split(",") if p]
    if not args.paths or any(p not in PATHS for p in args.paths):
        ap.error(f"--paths must list some of {PATHS}")
    try:
        args.res = [tuple(int(v) for v in r.lower().split("x")) for r in args.res.split(",")]
    except ValueError:
        ap.error(f"--res expects WxH[,WxH...], got {args.res!r}")
    if args.times < 1 or args.warmup < 0:
        ap.error("--times must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    device = resolve_device(args.device)
    model, cam, desc = load_model(args, device)
    model.eval()
    lo, hi = model.interior_time_range_s()
    margin = model.config.time_margin_s if hi - lo > 2 * model.config.time_margin_s else 0.0
    times = np.linspace(lo + margin, hi - margin, args.times).tolist()
    clock = Clock(device)
    results = []
    for w, h in args.res:
        cams = scene_camera(cam, w, h, device) if cam is not None else synthetic_camera(model, w, h, device)
        log.info("%dx%d ...", w, h)
        results.append(bench_resolution(model, cams, times, args, clock))
    report = {"model": desc, "n_static": model.n_static, "n_dynamic": model.n_dynamic,
              "num_keyframes": model.num_keyframes, "dtype": str(model.static["means"].dtype),
              "camera": cam.name if cam is not None else "synthetic", "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
              or "cpu", "torch": torch.__version__, "n_times": len(times), "time_range_s": [times[0], times[-1]],
              "warmup": args.warmup, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "fps_bench.json", report)
    table = markdown(report)
    with atomic_path(args.out / "fps_bench.md") as tmp:
        tmp.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
