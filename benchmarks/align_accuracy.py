#!/usr/bin/env python3
"""Accuracy benchmark of stage-1 alignment (`sync4dgs align`) on generated scenes with known time maps.

Scene sets (each over several seeds):
  offsets      N cameras, offsets uniform in +-max_offset (sub-frame), all at 30 fps, metadata correct.
  mixed-meta   true frame rates cycled 30/25/24 over the cameras, metadata correct (rates "1").
  mixed-rates  true frame rates cycled 30/25/24 but every video claims 30 fps (rates "30,25,24"); the
               ground-truth rates are 30 / true fps relative to the reference.
``--rates auto`` aligns every set with the product's default instead (rates 1 unless the data insist).
Sources: ``toy`` (sync4dgs.data.synth.toyscene: textured spheres, ray-cast) or ``synth`` (the product's
``sync4dgs synth`` generator, canonical layout; mixed-rates is not available there).

Metrics per set (non-reference cameras of all seeds): offset error in frames of each camera's own rate
and in ms (MAE, median, max, % within 0.5 and 1 frame) over every camera with an estimate, rate error (%),
unaligned cameras, "low" (status low_confidence), "cw" (confidently wrong: "aligned" yet > 1 frame off), runtime.
Prints a table; ``--out`` writes everything as JSON. The method never sees gt_sync.json.

Example:  python3 benchmarks/align_accuracy.py --seeds 0 1 2 --out /tmp/align_bench.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sync4dgs.data.scene import load_scene
from sync4dgs.sync.align import AlignConfig, align_scene
from sync4dgs.timemap import load_time_maps

SETS = ("offsets", "mixed-meta", "mixed-rates")
MIX = (30.0, 25.0, 24.0)


def make_scene(source: str, kind: str, seed: int, args: argparse.Namespace, root: Path) -> Path:
    """Generate one scene of set ``kind`` into ``root``; returns its folder."""
    w, h = (int(v) for v in args.res.lower().split("x"))
    n = args.cams
    if source == "toy":
        from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene  # noqa: PLC0415

        rng = np.random.default_rng(1000 + seed)
        offsets = rng.uniform(-args.max_offset, args.max_offset, n)
        true = [MIX[k % 3] for k in range(n)] if kind != "offsets" else None
        meta = true if kind == "mixed-meta" else None
        make_toy_scene(root, ToySceneConfig(n_cameras=n, width=w, height=h, n_frames=args.frames, fps=30.0,
                                            meta_fps=meta, true_fps=true, offsets_s=list(offsets), seed=seed))
        return root
    from sync4dgs.data.synth import generate, make_config  # noqa: PLC0415

    if kind == "mixed-rates":
        raise SystemExit("the synth source has no wrong-metadata frame rates; use --source toy for mixed-rates")
    cfg = make_config(None, n_cams=n, n_frames=args.frames, fps=30.0, width=w, height=h,
                      max_offset_s=args.max_offset, subframe=True, seed=seed, device="cpu", layout="canonical",
                      fps_mix=MIX if kind == "mixed-meta" else None)
    generate(cfg, root, progress=False)
    return root


def evaluate(root: Path, rates: str, args: argparse.Namespace) -> dict:
    """Align one scene and compare with its gt_sync.json."""
    scene = load_scene(root)
    gt = load_time_maps(root / "gt_sync.json")
    cfg = AlignConfig(max_offset_s=args.search_s, rates=rates, device=args.device)
    t0 = time.perf_counter()
    res = align_scene(scene, cfg)
    runtime = time.perf_counter() - t0
    cams = []
    for c in scene.cameras:
        if c.name == scene.reference_camera:
            continue
        e, g = res.time_maps.cameras[c.name], gt.cameras[c.name]
        err_s = e.offset_s - g.offset_s
        cams.append({"camera": c.name, "fps": c.fps, "status": e.status, "confidence": e.confidence,
                     "offset_s": e.offset_s, "gt_offset_s": g.offset_s, "err_s": err_s, "err_frames": err_s * c.fps,
                     "rate": e.rate, "gt_rate": g.rate, "rate_err_pct": 100 * (e.rate / g.rate - 1)})
    return {"scene": str(root), "runtime_s": runtime, "timings_s": res.timings_s, "cameras": cams,
            "n_trajectories": 0 if res.trajectories is None else res.trajectories.n}


def summarise(results: list[dict]) -> dict:
    """Errors over every camera with an estimate ("aligned" or "low_confidence"); "confident_wrong" counts
    cameras reported "aligned" yet more than 1 frame off (the failure that must not happen), "low_conf" the
    cameras flagged "low_confidence"."""
    cams = [c for r in results for c in r["cameras"]]
    ok = [c for c in cams if c["status"] in ("aligned", "low_confidence")]
    ef = np.abs([c["err_frames"] for c in ok]) if ok else np.array([np.nan])
    ems = np.abs([c["err_s"] * 1000 for c in ok]) if ok else np.array([np.nan])
    rate = np.abs([c["rate_err_pct"] for c in ok]) if ok else np.array([np.nan])
    return {"cameras": len(cams), "unaligned": len(cams) - len(ok),
            "low_confidence": sum(c["status"] == "low_confidence" for c in cams),
            "confident_wrong": sum(c["status"] == "aligned" and abs(c["err_frames"]) > 1.0 for c in cams),
            "mae_frames": float(ef.mean()),
            "median_frames": float(np.median(ef)), "max_frames": float(ef.max()), "mae_ms": float(ems.mean()),
            "max_ms": float(ems.max()), "within_0.5_pct": float(100 * (ef <= 0.5).mean()),
            "within_1_pct": float(100 * (ef <= 1.0).mean()), "max_rate_err_pct": float(rate.max()),
            "runtime_s": float(np.mean([r["runtime_s"] for r in results]))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", choices=["toy", "synth"], default="toy")
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--cams", type=int, default=8)
    p.add_argument("--res", default="320x240")
    p.add_argument("--frames", type=int, default=180)
    p.add_argument("--max-offset", type=float, default=2.0, help="ground-truth offsets uniform in +- this (s)")
    p.add_argument("--search-s", type=float, default=3.0, help="AlignConfig.max_offset_s")
    p.add_argument("--device", default="cpu")
    p.add_argument("--rates", default=None, help="AlignConfig.rates for every set (default: '1', or the true frame "
                   "rates for mixed-rates; 'auto' measures the product's default)")
    p.add_argument("--work", default=None, help="keep generated scenes here (default: a temporary folder)")
    p.add_argument("--out", default=None, help="write all results as JSON")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="align_bench_"))
    all_res: dict[str, dict] = {}
    try:
        for kind in args.sets:
            rates = args.rates or {"offsets": "1", "mixed-meta": "1",
                                   "mixed-rates": ",".join(str(int(f)) for f in MIX)}[kind]
            runs = []
            for seed in args.seeds:
                root = work / f"{args.source}_{kind}_{seed}"
                if not (root / "scene.json").is_file():
                    make_scene(args.source, kind, seed, args, root)
                r = evaluate(root, rates, args)
                worst = max((abs(c["err_frames"]) for c in r["cameras"]), default=float("nan"))
                print(f"  {kind} seed {seed}: worst {worst:.3f} frames, {r['runtime_s']:.1f} s", file=sys.stderr)
                runs.append(r)
            all_res[kind] = {"rates": rates, "summary": summarise(runs), "runs": runs}
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    hdr = f"{'set':<12} {'cams':>4} {'unal':>4} {'low':>4} {'cw':>3} {'MAE fr':>7} {'med fr':>7} {'max fr':>7} {'MAE ms':>7} " \
          f"{'<=0.5':>6} {'<=1':>6} {'rate%':>7} {'time s':>7}"
    print(f"source={args.source} res={args.res} frames={args.frames} cams={args.cams} seeds={args.seeds} "
          f"device={args.device}")
    print(hdr)
    for kind, r in all_res.items():
        s = r["summary"]
        print(f"{kind:<12} {s['cameras']:>4} {s['unaligned']:>4} {s['low_confidence']:>4} {s['confident_wrong']:>3} "
              f"{s['mae_frames']:>7.3f} {s['median_frames']:>7.3f} "
              f"{s['max_frames']:>7.3f} {s['mae_ms']:>7.2f} {s['within_0.5_pct']:>6.1f} {s['within_1_pct']:>6.1f} "
              f"{s['max_rate_err_pct']:>7.3f} {s['runtime_s']:>7.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "sets": all_res}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
