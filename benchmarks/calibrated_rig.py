"""A real calibrated 4-camera rig through ``prepare --format videos --calibration`` and ``align``, against the
same videos given as N3V poses (issue 17's acceptance).

Data: caliscope's test session ``tests/sessions/4_cam_recording`` (https://github.com/mprib/caliscope, BSD-2-Clause
at commit ddda95b4): ``camera_array.toml`` and the four synchronized ChArUco-board videos
``calibration/extrinsic/cam_<k>.mp4`` (1280x720, 6 fps, 48 frames; caliscope's ``timestamps.csv`` puts the four
frames of one sync index within 8 ms median, 46 ms max, i.e. under 0.3 frame). Nothing is downloaded: pass a
checkout (``git clone https://github.com/mprib/caliscope``) with ``--caliscope``.

Offsets are injected by dropping ``--drop`` leading frames of each camera (camera k then starts ``drop_k / fps``
after camera 0: true ``offset_s = +drop_k / fps``). Two scenes are prepared from the same trimmed clips:

  * ``calibrated``: ``--format videos --calibration camera_array.toml`` (distortion removed, principal point kept);
  * ``n3v``: the clips renamed cam00.. with a ``poses_bounds.npy`` written from the same calibration (the N3V
    layout has no distortion and a centred principal point, so those are dropped: what N3V poses can say).

then ``sync4dgs align`` runs on both and the offsets are printed against the truth (frames).

Usage: ``python benchmarks/calibrated_rig.py --caliscope PATH --work /tmp/rig [--drop 0,2,4,1] [--downscale 2]
[--max_offset_s 3]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

SESSION = Path("tests/sessions/4_cam_recording")


def trim(src: Path, dst: Path, drop: int, n: int) -> float:
    """Copy frames ``drop .. drop + n - 1`` of ``src`` into ``dst`` (x264, crf 12); returns the fps."""
    import av

    from sync4dgs.data.video import write_video

    with av.open(str(src)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    write_video(dst, np.stack(frames[drop:drop + n]), fps=fps, crf=12)
    return fps


def poses_bounds(calib_path: Path) -> np.ndarray:
    """N3V rows [N, 17] of a calibration: LLFF [down | right | back | C | hwf], focal = fx, bounds 0.2 .. 6 (m)."""
    from sync4dgs.data.readers.calibration import read_calibration

    rows = []
    for c in read_calibration(calib_path).cameras:
        c2w = c.R.T
        m = np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2], c.center, [c.height, c.width, c.K[0, 0]]], 1)
        rows.append(np.r_[m.reshape(-1), 0.2, 6.0])
    return np.asarray(rows)


def run(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "sync4dgs.cli.main", *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--caliscope", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--drop", default="0,2,4,1")
    ap.add_argument("--downscale", default="2")
    ap.add_argument("--max_offset_s", default="3")
    args = ap.parse_args()
    session = args.caliscope / SESSION
    drop = [int(x) for x in args.drop.split(",")]
    n = 48 - max(drop)
    cal, n3v = args.work / "src_calibrated", args.work / "src_n3v"
    for d in (cal, n3v):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for k, dk in enumerate(drop):
        fps = trim(session / "calibration" / "extrinsic" / f"cam_{k}.mp4", cal / f"cam_{k}.mp4", dk, n)
        shutil.copy(cal / f"cam_{k}.mp4", n3v / f"cam{k:02d}.mp4")
    toml = session / "camera_array.toml"
    np.save(n3v / "poses_bounds.npy", poses_bounds(toml))
    truth = {f"cam_{k}": dk for k, dk in enumerate(drop)}
    results = {}
    for name, src, extra in (("calibrated", cal, ["--format", "videos", "--calibration", str(toml),
                                                  "--calibration_units", "m"]),
                             ("n3v", n3v, ["--format", "n3v"])):
        scene = args.work / f"scene_{name}"
        run("prepare", str(src), "--out", str(scene), "--downscale", args.downscale, "--overwrite", *extra)
        run("align", str(scene), "--device", "cpu", "--max_offset_s", args.max_offset_s)
        off = json.loads((scene / "offsets.json").read_text())["cameras"]
        results[name] = {k: v for k, v in off.items()}
    print(f"\ntruth (frames at {fps:g} fps): {truth}")
    for name, off in results.items():
        cams = sorted(off)
        est = {c: off[c]["offset_s"] * fps for c in cams}
        keys = [f"cam_{k}" for k in range(4)] if name == "calibrated" else [f"cam{k:02d}" for k in range(4)]
        err = [est[c] - truth[f"cam_{k}"] for k, c in enumerate(keys)]
        print(f"{name:>10}: " + ", ".join(f"{c} {est[c]:+.3f} ({off[c]['status']}, conf {off[c]['confidence']:.2f})"
                                          for c in keys) + f"; MAE {np.mean(np.abs(err)):.3f} frame")
    out = args.work / "calibrated_rig_results.json"
    out.write_text(json.dumps({"truth_frames": truth, "fps": fps, "offsets": results}, indent=1))
    print("written", out)


if __name__ == "__main__":
    main()
