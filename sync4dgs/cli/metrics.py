"""``sync4dgs metrics``: write ``M/results.json`` for a rendered model (run ``sync4dgs render`` first).

``python metrics.py ...`` at the repository root is the same command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.eval.layout import DEFAULT_FLIP_MAX_FRAMES
from sync4dgs.utils.cliopts import long_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", *long_option("model_path"), required=True, type=Path,
                        help="trained and rendered model folder")
    parser.add_argument("-s", *long_option("source_path"), type=scene_folder, default=None,
                        help="scene folder (default: the scene recorded when the model was trained)")
    parser.add_argument("--iteration", type=int, default=-1, help="saved iteration (default: latest)")
    parser.add_argument(*long_option("lpips_weights"), type=Path, default=None,
                        help="folder with alexnet-owt-7be5be79.pth + lpips alex.pth (or one combined .pth); "
                             "without it LPIPS is reported as unavailable")
    parser.add_argument(*long_option("no_flip"), action="store_true", help="skip FLIP")
    parser.add_argument(*long_option("flip_max_frames"), type=int, default=DEFAULT_FLIP_MAX_FRAMES,
                        help=f"FLIP on at most this many evenly spaced frames per camera (default "
                             f"{DEFAULT_FLIP_MAX_FRAMES}; 0 = all; FLIP runs on the CPU, ~1 s per 1352x1014 frame)")
    parser.add_argument(*long_option("fps_repeats"), type=int, default=None,
                        help="timed render calls for the FPS measurement (default 50 on CUDA, 5 on CPU; 0 = skip)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--backend", default=None, choices=("auto", "torch", "gsplat"),
                        help="renderer for the FPS measurement (default auto: gsplat on CUDA, torch on CPU)")
    parser.add_argument(*long_option("no_regions"), action="store_true",
                        help="skip the moving/static region metrics (they read each camera's frames once)")
    parser.add_argument(*long_option("cpu_threads"), type=int, default=None,
                        help="torch threads on the CPU (default: the model's train.cpu_threads, else torch's "
                             "default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def format_summary(results: dict) -> str:
    """A few human-readable lines of a results dict."""
    lines = [f"iteration {results['iteration']}  ({results['model_path']})"]
    for split, r in results["images"].items():
        m = r["mean"]
        parts = [f"PSNR {m['psnr']:.2f} dB", f"SSIM {m['ssim']:.4f}"]
        if "flip" in m:
            n_flip = r.get("n_images_flip", r["n_images"])
            parts.append(f"FLIP {m['flip']:.4f}" + (f" ({n_flip} frames)" if n_flip != r["n_images"] else ""))
        if "lpips_alex" in m:
            parts.append(f"LPIPS-Alex {m['lpips_alex']:.4f}")
        lines.append(f"{split:5s} ({r['n_images']} images): " + ", ".join(parts))
        lines.extend(format_regions(r.get("regions") or {}))
        for label, key in (("render", "render_seconds"), ("metrics", "seconds")):
            if r.get(key):
                lines.append(f"  {label} time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r[key].items()))
    if results["lpips"]["status"] != "computed":
        lines.append("LPIPS: unavailable (no weights; see results.json)")
    off = results["offsets"]
    if off.get("status") == "computed":
        for key in ("initial", "learned", "stage1"):
            s = (off.get(key) or {}).get("summary") or {}
            if s.get("n_cameras"):
                lines.append(f"offsets {key:7s}: MAE {s['mae_frames']:.3f} frames ({s['mae_ms']:.2f} ms), "
                             f"max {s['max_frames']:.3f} frames, {s['pct_within_0.5_frame']:.0f}% within 0.5 frame")
    for name, c in (results.get("test_clocks") or {}).items():
        if c.get("source") != "reference":
            err = f", error {c['error_frames']:+.3f} frames" if "error_frames" in c else ""
            lines.append(f"test camera {name}: rendered at offset {c.get('offset_s', 0.0):+.5f} s "
                         f"({c.get('source')}{err})")
    m = results["model"]
    lines.append(f"Gaussians: {m['n_static']} static + {m['n_dynamic']} dynamic; model {m['size_mb'] or 0:.2f} MB")
    sp = results.get("render_speed")
    if sp:
        lines.append(f"render: {sp['fps']:.1f} FPS at {sp['width']}x{sp['height']} on {sp['device_name']} ({sp['backend']})")
    return "\n".join(lines)


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_regions(regions: dict) -> list[str]:
    """One indented line per region of a split's "regions" entry (PSNR, SSIM, coverage, frames used)."""
    lines = []
    for name, v in regions.items():
        empty = f", {v['n_empty']} frames without pixels" if v.get("n_empty") else ""
        lines.append(f"  {name:11s} PSNR {_num(v.get('psnr'), '.2f')} dB, SSIM {_num(v.get('ssim'), '.4f')}, "
                     f"coverage {100 * v['coverage']:.1f}% ({v['n_images']} frames{empty})")
    return lines


def run(args: argparse.Namespace) -> int:
    from sync4dgs.eval.layout import RESULTS_FILE  # noqa: PLC0415
    from sync4dgs.eval.results import MetricsOptions, compute_results  # noqa: PLC0415
    from sync4dgs.utils.device import resolve_device  # noqa: PLC0415

    repeats = args.fps_repeats
    if repeats is None:
        repeats = 50 if resolve_device(args.device).type == "cuda" else 5
    opts = MetricsOptions(source_path=args.source_path, iteration=None if args.iteration < 0 else args.iteration,
                          lpips_weights=args.lpips_weights, use_flip=not args.no_flip,
                          flip_max_frames=args.flip_max_frames, fps_repeats=repeats,
                          device=args.device, backend=args.backend, progress=not args.quiet,
                          regions=not args.no_regions, cpu_threads=args.cpu_threads)
    results = compute_results(args.model_path, opts)
    print(format_summary(results))
    print(f"-> {args.model_path / RESULTS_FILE}")
    return 0
