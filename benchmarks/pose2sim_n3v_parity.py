"""Issue 17's acceptance on Pose2Sim's Demo_SinglePerson: the same clips through ``prepare --format videos
--calibration Calib.qca.txt`` and as an N3V folder whose ``poses_bounds.npy`` is written from the same
calibration, then ``sync4dgs align`` on both; offsets and statuses side by side.

Clips are made exactly as ``benchmarks/pose2sim_sync.py`` makes them (padded to a multiple of 16 pixels,
area-downscaled by ``--downscale``, frame i = original frame i + d_c, linear blend for fractional d_c, x264
crf 14); the ground truth is d_c - d_ref frames with the recording taken as synchronized (RESULTS.md,
session 7). The N3V variant is what N3V poses can say: distortion and the off-centre principal point are
dropped (LLFF rows [down | right | back | C | hwf] as in ``benchmarks/calibrated_rig.py``, C in metres, bounds
``--bounds``, default 0.2 .. 10 m). ``--n3v_clips undistorted`` gives the N3V folder the calibrated scene's
undistorted videos instead (only the principal point then differs). ``--n3v_clips centred`` gives it those
undistorted videos padded with black (whole pixels, no content lost) so that each camera's principal point is at
the image centre, with
poses_bounds.npy written from the calibrated scene's own cameras (R, t, fx at the clip scale, its near / far): the
same pinhole cameras N3V poses can express, up to the padding's rounding (at most half a pixel, printed) and
fx vs fy (one focal in N3V); it then also prepares those same padded clips through ``--calibration`` with a
cameras.json of the exact pinhole cameras ("calibrated_same": identical pixels, so any difference from "n3v"
comes from the camera models: the exact principal point and fy there, the centred one and fy = fx in N3V), and
with the N3V scene's own cameras ("calibrated_n3v_cameras": identical pixels AND identical
pinhole cameras; a difference would come from the importers). Every scene is aligned by the CLI with its
defaults (``--device cpu``, plus ``--align ARGS``).

    python benchmarks/pose2sim_n3v_parity.py DEMO_DIR --work /tmp/p2s_par [--sets "0,0,0,0;0,3,7,2"]
        [--downscale 4] [--align "--max_offset_s 3"] [--bounds 0.2,10] [--n3v_clips source|undistorted|centred]
        [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pose2sim_sync import read_video, shifted_clip  # noqa: E402

from sync4dgs.data.video import iter_video_frames, write_video  # noqa: E402

TO_M = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}


def llff_row(R: np.ndarray, center: np.ndarray, height: int, width: int, focal: float, near: float,
             far: float) -> np.ndarray:
    """One N3V poses_bounds row [17] of a world-to-camera rotation R [3, 3] and a centre [3]: LLFF
    [down | right | back | C | hwf] (camera-to-world columns), then the bounds."""
    c2w = R.T
    m = np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2], center, [height, width, focal]], 1)
    return np.r_[m.reshape(-1), near, far]


def poses_bounds(calib_path: Path, bounds: tuple[float, float] = (0.2, 10.0)) -> np.ndarray:
    """N3V rows [N, 17] of a calibration (camera order of the file): LLFF [down | right | back | C | hwf]."""
    from sync4dgs.data.readers.calibration import read_calibration  # noqa: PLC0415

    cal = read_calibration(calib_path)
    s = TO_M.get(cal.units, 1.0)
    rows = []
    for c in cal.cameras:
        rows.append(llff_row(c.R, c.center * s, c.height, c.width, c.K[0, 0], bounds[0], bounds[1]))
    return np.asarray(rows), [c.name for c in cal.cameras]


def centring_pad(K: np.ndarray, width: int, height: int) -> tuple[int, int, int, int, float]:
    """(left, top, w, h, residual px): the whole-pixel black border that puts the principal point of K [3, 3] at
    the centre of a w x h image (even sizes) holding the width x height frame at (left, top); residual = largest
    |principal point - image centre| in px after padding."""
    cx, cy = float(K[0, 2]), float(K[1, 2])
    half_w = int(math.ceil(max(cx, width - cx)))
    half_h = int(math.ceil(max(cy, height - cy)))
    left = min(max(int(round(half_w - cx)), 0), 2 * half_w - width)
    top = min(max(int(round(half_h - cy)), 0), 2 * half_h - height)
    return left, top, 2 * half_w, 2 * half_h, max(abs(cx + left - half_w), abs(cy + top - half_h))


def write_centred_n3v(scene_dir: Path, names: list[str], dst: Path, fps: float) -> dict[str, float]:
    """The calibrated scene's undistorted videos padded to centred principal points into ``dst``, its cameras
    as ``dst/poses_bounds.npy`` and, for the same pinhole cameras through ``--calibration``, as
    ``dst/cameras_padded.json`` (K shifted by the padding, no distortion, the scene's R, t); returns each
    camera's residual principal-point offset (px)."""
    from sync4dgs.data.readers.calibration import cameras_json  # noqa: PLC0415
    from sync4dgs.data.readers.calibration.rig import CalibCamera, opencv_K  # noqa: PLC0415

    meta = json.loads((scene_dir / "scene.json").read_text())
    cams = {c["name"]: c for c in meta["cameras"]}
    rows, residuals, padded = [], {}, []
    for name in names:
        c = cams[name]
        K, R, t = np.asarray(c["K"]), np.asarray(c["R"]), np.asarray(c["t"])
        left, top, w, h, res = centring_pad(K, int(c["width"]), int(c["height"]))
        residuals[name] = round(res, 3)
        frames = []
        for rgb, _ in iter_video_frames(scene_dir / c["frames"]["path"]):
            canvas = np.zeros((h, w, 3), np.uint8)
            canvas[top:top + rgb.shape[0], left:left + rgb.shape[1]] = rgb
            frames.append(canvas)
        write_video(dst / f"{name}.mp4", frames, fps, crf=14)
        rows.append(llff_row(R, -R.T @ t, h, w, K[0, 0], float(meta["near"]), float(meta["far"])))
        Kp = opencv_K(K)
        Kp[0, 2] += left
        Kp[1, 2] += top
        padded.append(CalibCamera(name, w, h, Kp, np.zeros(0), R, t))
    np.save(dst / "poses_bounds.npy", np.asarray(rows))
    cameras_json.write(dst / "cameras_padded.json", padded)
    return residuals


def write_scene_cameras(scene_dir: Path, dst: Path) -> None:
    """A prepared scene's pinhole cameras (scene.json: K, R, t, size) as a cameras.json for ``--calibration``."""
    from sync4dgs.data.readers.calibration import cameras_json  # noqa: PLC0415
    from sync4dgs.data.readers.calibration.rig import CalibCamera, opencv_K  # noqa: PLC0415

    meta = json.loads((scene_dir / "scene.json").read_text())
    cameras_json.write(dst, [CalibCamera(c["name"], int(c["width"]), int(c["height"]), opencv_K(np.asarray(c["K"])),
                                         np.zeros(0), np.asarray(c["R"]), np.asarray(c["t"]))
                             for c in meta["cameras"]])


def cli(*args: str) -> float:
    print("$ sync4dgs", " ".join(shlex.quote(a) for a in args), flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sync4dgs.cli.main", *args], check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("demo", type=Path, help="Demo_SinglePerson folder (videos/, calibration/Calib.qca.txt)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--sets", default="0,0,0,0;0,3,7,2")
    ap.add_argument("--downscale", type=int, default=4)
    ap.add_argument("--align", default="", help="extra `sync4dgs align` arguments (one string)")
    ap.add_argument("--bounds", default="0.2,10", help="N3V near,far bounds written in poses_bounds.npy (m)")
    ap.add_argument("--n3v_clips", choices=["source", "undistorted", "centred"], default="source",
                    help="N3V folder's videos: the same source clips (default), or the calibrated scene's "
                         "undistorted videos (isolates lens distortion; the principal point is still centred), or "
                         "those padded to centred principal points with the calibrated scene's cameras as poses")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    import cv2  # noqa: PLC0415

    calib = a.demo / "calibration" / "Calib.qca.txt"
    vids = sorted((a.demo / "videos").glob("cam*.mp4"))
    fps = cv2.VideoCapture(str(vids[0])).get(cv2.CAP_PROP_FPS)
    originals = {v.stem: read_video(v, a.downscale) for v in vids}
    names = sorted(originals)
    pb, pb_names = poses_bounds(calib, tuple(float(x) for x in a.bounds.split(",")))
    if pb_names != names:
        raise SystemExit(f"calibration cameras {pb_names} != videos {names}")
    out = {"fps": fps, "downscale": a.downscale, "align_args": a.align, "bounds": a.bounds, "n3v_clips": a.n3v_clips,
           "sets": []}
    for i, spec in enumerate(a.sets.split(";")):
        delays = [float(x) for x in spec.split(",")]
        w = a.work / f"set{i}"
        shutil.rmtree(w, ignore_errors=True)
        src_v, src_n = w / "src_videos", w / "src_n3v"
        src_v.mkdir(parents=True)
        src_n.mkdir(parents=True)
        n_out = min(len(v) for v in originals.values()) - int(math.ceil(max(delays))) - 1
        for name, d in zip(names, delays):
            write_video(src_v / f"{name}.mp4", shifted_clip(originals[name], d, n_out), fps, crf=14)
            shutil.copy(src_v / f"{name}.mp4", src_n / f"{name}.mp4")
        np.save(src_n / "poses_bounds.npy", pb)
        res = {"delays": delays, "frames": n_out, "ways": {}}
        ways = [("calibrated", src_v, ["--format", "videos", "--calibration", str(calib)]),
                ("n3v", src_n, ["--format", "n3v", "--pose_cameras", ",".join(names), "--test_cameras", ""])]
        if a.n3v_clips == "centred":     # the N3V folder's own clips and cameras, through --calibration
            src_s = w / "src_same"
            ways.append(("calibrated_same", src_s, ["--format", "videos", "--calibration",
                                                    str(src_s / "cameras_padded.json")]))
            src_c = w / "src_n3v_cameras"
            ways.append(("calibrated_n3v_cameras", src_c, ["--format", "videos", "--calibration",
                                                           str(src_c / "cameras_n3v.json")]))
        for way, src, extra in ways:
            scene = w / f"scene_{way}"
            if way == "n3v" and a.n3v_clips == "undistorted":
                for name in names:
                    shutil.copy(w / "scene_calibrated" / "frames" / f"{name}.mp4", src_n / f"{name}.mp4")
            if way == "n3v" and a.n3v_clips == "centred":
                res["pad_residual_px"] = write_centred_n3v(w / "scene_calibrated", names, src_n, fps)
                print(f"centred padding: principal point off the image centre by (px) {res['pad_residual_px']}",
                      flush=True)
            if way in ("calibrated_same", "calibrated_n3v_cameras"):
                src.mkdir(parents=True)
                for f in [*(src_n / f"{name}.mp4" for name in names), src_n / "cameras_padded.json"]:
                    shutil.copy(f, src / f.name)
            if way == "calibrated_n3v_cameras":      # the N3V scene's own cameras (centred K, fy = fx)
                write_scene_cameras(w / "scene_n3v", src / "cameras_n3v.json")
            tp = cli("prepare", str(src), "--out", str(scene), "--reference", names[0], *extra)
            ta = cli("align", str(scene), "--device", "cpu", *shlex.split(a.align))
            off = json.loads((scene / "offsets.json").read_text())["cameras"]
            rows = []
            for name, d in zip(names, delays):
                o = off[name]
                est = o["offset_s"] * fps
                gt = d - delays[0]
                rows.append({"camera": name, "gt_frames": gt, "est_frames": est, "err_frames": est - gt,
                             "status": o["status"], "confidence": o["confidence"]})
            errs = np.abs([r["err_frames"] for r in rows[1:]])
            res["ways"][way] = {"rows": rows, "mae": float(errs.mean()), "max": float(errs.max()),
                                "prepare_s": tp, "align_s": ta,
                                "aligned_wrong": [r["camera"] for r in rows[1:]
                                                  if r["status"] == "aligned" and abs(r["err_frames"]) > 0.5]}
        out["sets"].append(res)
        for way, r in res["ways"].items():
            print(f"set {spec} {way:>10}: " + "  ".join(
                f"{x['camera']} {x['est_frames']:+.2f} (err {x['err_frames']:+.2f}, {x['status']} {x['confidence']:.2f})"
                for x in r["rows"][1:]) + f" | MAE {r['mae']:.2f} max {r['max']:.2f} wrong-aligned {r['aligned_wrong']}"
                f" | prepare {r['prepare_s']:.0f} s align {r['align_s']:.0f} s", flush=True)
        n = res["ways"]["n3v"]["rows"]
        for way in [k for k in res["ways"] if k != "n3v"]:
            c = res["ways"][way]["rows"]
            print(f"set {spec} {way} - n3v (frames): " + ", ".join(
                f"{x['camera']} {x['est_frames'] - y['est_frames']:+.3f}" for x, y in zip(c[1:], n[1:])), flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
