"""``sync4dgs synth``: generate a synthetic unsynchronized multi-view scene with ground-truth offsets."""

from __future__ import annotations

import argparse

from sync4dgs.utils.cliopts import long_option


def _resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"resolution must look like 160x120, got {text!r}") from e
    return w, h


def _fps_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--fps_mix must be comma-separated numbers, got {text!r}") from e


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument("--preset", choices=["tiny", "demo", "n3v"], default=None,
                   help="tiny: 4 cams x 24 frames 96x72; demo: 6 x 48 160x120; n3v: 20 x 300 1352x1014 "
                        "(sub-frame offsets, one 25 fps camera; use --device cuda). Flags below override it.")
    p.add_argument("--cams", type=int, default=None, help="number of cameras (default 8)")
    p.add_argument("--frames", type=int, default=None, help="frames of the reference camera (default 60)")
    p.add_argument("--fps", type=float, default=None, help="reference frame rate (default 30)")
    p.add_argument("--res", type=_resolution, default=None, help="WIDTHxHEIGHT, even (default 160x120)")
    p.add_argument(*long_option("max_offset_s"), type=float, default=None,
                   help="offsets uniform in +-this (default 2.0 s)")
    p.add_argument("--subframe", dest="subframe", action="store_const", const=True, default=None,
                   help="add random sub-frame parts to the offsets (default: off, except the n3v preset)")
    p.add_argument(*long_option("no_subframe"), dest="subframe", action="store_const", const=False,
                   help="no sub-frame parts (whole-frame offsets), also with the n3v preset")
    p.add_argument(*long_option("fps_mix"), type=_fps_list, default=None,
                   help="frame rates cycled over cam01.. (cam00 keeps --fps), e.g. 30,25,24")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda[:i] (default auto)")
    p.add_argument("--layout", choices=["n3v", "canonical"], default=None,
                   help="n3v: camXX.mp4 + poses_bounds.npy (needs PyAV); canonical: scene.json + PNG frames")
    p.add_argument("--supersample", type=int, default=None, help="SxS rays per pixel (default 2)")
    p.add_argument("--crf", type=int, default=None, help="x264 quality for the n3v layout (default 14)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.data.synth import generate, make_config, plan_synth  # noqa: PLC0415

    w, h = args.res if args.res is not None else (None, None)
    cfg = make_config(args.preset, n_cams=args.cams, n_frames=args.frames, fps=args.fps, width=w, height=h,
                      max_offset_s=args.max_offset_s, subframe=args.subframe, fps_mix=args.fps_mix, seed=args.seed,
                      device=args.device, layout=args.layout, supersample=args.supersample, crf=args.crf)
    out = generate(cfg, args.out, progress=not args.quiet)
    plan = plan_synth(cfg)
    print(f"wrote {cfg.layout} scene to {out}")
    print(f"{'camera':8s} {'fps':>7s} {'frames':>7s} {'offset_s':>10s}")
    for cam, clk in zip(plan.cameras, plan.clocks):
        print(f"{cam.name:8s} {clk.fps:7.3f} {clk.n_frames:7d} {clk.offset_s:+10.4f}")
    return 0
