"""The free-viewpoint options of ``sync4dgs render`` (the command itself lives in sync4dgs/cli/render.py).

``sync4dgs render --model_path M --path orbit|interp|camera:<name> [--time_range a:b] [--freeze_time t]
[--out video.mp4]``: cli/render.py calls :func:`add_path_video_arguments` on its parser and, when
``args.path`` is set, returns :func:`run_path_video(args)` instead of rendering the test/train views.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync4dgs.errors import ConfigError
from sync4dgs.utils.cliopts import long_option


def parse_time_range(spec: str | None) -> tuple[float, float] | None:
    """``"a:b"`` (global seconds) -> (a, b); None passes through. ConfigError on bad input."""
    if spec is None:
        return None
    parts = spec.split(":")
    try:
        if len(parts) != 2:
            raise ValueError(spec)
        a, b = float(parts[0]), float(parts[1])
    except ValueError as e:
        raise ConfigError(f"--time_range must look like START:END in seconds (e.g. 0.5:2.0), got {spec!r}") from e
    if not b >= a:
        raise ConfigError(f"--time_range end must not precede its start, got {spec!r}")
    return a, b


def add_path_video_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --path, --time_range, --freeze_time, --out, --fps, --n_frames, --width, --height to ``parser`` (each
    also accepted hyphenated, e.g. --time-range)."""
    g = parser.add_argument_group("free-viewpoint video (with --path; renders one mp4 instead of the views)")
    g.add_argument("--path", default=None, metavar="orbit|interp|camera:NAME",
                   help="orbit: loop around the cameras' look-at point; interp: smooth path through the training "
                        "cameras; camera:NAME: that camera's view at the reference camera's frame times")
    g.add_argument(*long_option("time_range"), default=None, metavar="A:B",
                   help="global seconds to cover (default: the reference camera's capture range); "
                        "write --time_range=-0.5:2 when the start is negative")
    g.add_argument(*long_option("freeze_time"), type=float, default=None, metavar="T",
                   help="bullet time: every frame at global time T (seconds) while the camera moves")
    g.add_argument("--out", type=Path, default=None,
                   help="output mp4 (default: M/video/<path>_<iter>.mp4)")
    g.add_argument("--fps", type=float, default=None, help="video frame rate (default 30; camera:NAME: the "
                                                           "reference camera's fps)")
    g.add_argument(*long_option("n_frames"), type=int, default=None,
                   help="number of frames (default: real time over the time range; 4 s when frozen)")
    g.add_argument("--width", type=int, default=None, help="output width in pixels (default: the camera's)")
    g.add_argument("--height", type=int, default=None, help="output height in pixels (default: the camera's)")


def run_path_video(args: argparse.Namespace) -> int:
    """Render the video described by ``args`` (uses args.model_path, source_path, iteration, device, backend,
    quiet when present). Prints where the video went; returns 0."""
    from sync4dgs.eval.render_views import settings_from_meta  # noqa: PLC0415
    from sync4dgs.export.model_files import load_model_any, model_folder_of, scene_for  # noqa: PLC0415
    from sync4dgs.export.paths import parse_path_spec  # noqa: PLC0415
    from sync4dgs.export.video import render_path_video  # noqa: PLC0415
    from sync4dgs.utils.device import resolve_device  # noqa: PLC0415

    spec = parse_path_spec(args.path)
    time_range = parse_time_range(args.time_range)
    iteration = getattr(args, "iteration", None)
    iteration = None if iteration is None or iteration < 0 else iteration
    device = resolve_device(getattr(args, "device", "auto"))
    trained = load_model_any(args.model_path, iteration, device=device)
    scene = scene_for(trained, args.model_path, getattr(args, "source_path", None))
    settings = settings_from_meta(trained.meta or {}, scene, getattr(args, "backend", None))
    label = args.path.replace(":", "_")
    out = args.out or model_folder_of(args.model_path) / "video" / f"{label}_{trained.iteration}.mp4"
    res = render_path_video(trained, spec, out, scene=scene, time_range=time_range, freeze_time=args.freeze_time,
                            fps=args.fps, n_frames=args.n_frames, width=args.width, height=args.height,
                            device=device, settings=settings, progress=not getattr(args, "quiet", False))
    print(f"{res.n_frames} frames at {res.fps:g} fps, t = {res.times_s.min():.4f} .. {res.times_s.max():.4f} s "
          f"-> {res.path}")
    return 0
