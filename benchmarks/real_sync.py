"""Stage 1 on a REAL multi-camera recording with known capture times: inject offsets, align, measure.

Input: a folder of one video per camera (``cam_<id>.mp4``), a calibration file the ``prepare --calibration``
readers understand, and a caliscope-style ``timestamps.csv`` (columns ``sync_index, cam_id, frame_time``: the
capture time of every frame of every camera on ONE shared clock, in seconds; frame i of ``cam_<id>.mp4`` is
that camera's i-th row in time order). caliscope's tests/sessions/*/calibration/extrinsic folders have
exactly this layout (BSD-2-Clause; see benchmarks/RESULTS.md, session 5).

What it does:
1. per camera c, drop its first ``k_c`` frames (``--drop 0,3,5,2`` or random in [0, --max_drop]; the
   reference keeps k = 0 unless ``--drop`` says otherwise), downscale (longer side <= ``--max_side``) and
   write ``WORK/videos/cam_<id>.mp4`` whose presentation times are the camera's own capture times relative
   to its first kept frame (the camera's own clock; ``--uniform`` writes i / fps instead, i.e. a camera that
   only knows its nominal frame rate);
2. ``prepare --format videos --calibration FILE`` (undistortion, scene.json) into ``WORK/scene``;
3. ``align_scene`` (stage 1), then compare with the ground truth offset_s(c) = t_c[k_c] - t_ref[k_ref]
   (global time = reference clock). Errors are given in frames of each camera's nominal frame rate.

Since capture times are not exact multiples of the frame interval (real cameras jitter), the ground-truth
offsets have sub-frame parts even for integer frame drops.

    python benchmarks/real_sync.py VIDEOS_DIR CALIBRATION TIMESTAMPS_CSV --work WORK [--drop 0,3,5,2]
        [--seed 0] [--max_drop 6] [--max_side 640] [--uniform] [--max_offset_s 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync4dgs.data.readers import prepare  # noqa: E402
from sync4dgs.data.scene import load_scene  # noqa: E402
from sync4dgs.data.video import import_av, write_video  # noqa: E402
from sync4dgs.errors import DataFormatError  # noqa: E402
from sync4dgs.sync.align import AlignConfig, align_scene  # noqa: E402


def read_timestamps(path: Path) -> dict[int, np.ndarray]:
    """caliscope timestamps.csv -> {cam_id: capture times [n] float64 s, sorted}."""
    out: dict[int, list[float]] = {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"cam_id", "frame_time"} <= set(rows[0]):
        raise DataFormatError(path, "needs columns cam_id, frame_time")
    for r in rows:
        out.setdefault(int(r["cam_id"]), []).append(float(r["frame_time"]))
    return {k: np.sort(np.asarray(v)) for k, v in out.items()}


def read_frames(path: Path) -> list[np.ndarray]:
    av = import_av()
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def make_clips(videos: Path, stamps: dict[int, np.ndarray], drops: dict[int, int], out: Path, max_side: int,
               uniform: bool) -> dict[int, float]:
    """Write the unsynchronized clips; returns each camera's first kept capture time (shared clock, s)."""
    import cv2  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    first: dict[int, float] = {}
    for cid, t in sorted(stamps.items()):
        frames = read_frames(videos / f"cam_{cid}.mp4")
        if len(frames) != len(t):
            raise DataFormatError(videos / f"cam_{cid}.mp4", f"{len(frames)} frames but {len(t)} timestamps")
        k = drops[cid]
        h, w = frames[0].shape[:2]
        s = min(1.0, max_side / max(h, w))
        size = (int(round(w * s)) // 2 * 2, int(round(h * s)) // 2 * 2)
        small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames[k:]]
        fps = (len(t) - 1) / (t[-1] - t[0])
        pts = None if uniform else (t[k:] - t[k]).tolist()
        write_video(out / f"cam_{cid}.mp4", small, fps, pts_s=pts, crf=14)
        first[cid] = float(t[k])
    return first


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("videos", type=Path)
    ap.add_argument("calibration", type=Path)
    ap.add_argument("timestamps", type=Path)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--drop", default=None, help="frames dropped per camera, in cam_id order (e.g. 0,3,5,2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max_drop", type=int, default=6)
    ap.add_argument("--max_side", type=int, default=640)
    ap.add_argument("--reuse", action="store_true", help="reuse WORK's clips and scene when made the same way")
    ap.add_argument("--uniform", action="store_true", help="clips claim uniform i/fps timing")
    ap.add_argument("--max_offset_s", type=float, default=3.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="AlignConfig setting (repeatable), e.g. --set fg_mode=motion")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stamps = read_timestamps(a.timestamps)
    ids = sorted(stamps)
    if a.drop is not None:
        vals = [int(v) for v in a.drop.split(",")]
        if len(vals) != len(ids):
            raise SystemExit(f"--drop needs {len(ids)} values (cameras {ids})")
        drops = dict(zip(ids, vals))
    else:
        rng = np.random.default_rng(a.seed)
        drops = {c: (0 if i == 0 else int(rng.integers(0, a.max_drop + 1))) for i, c in enumerate(ids)}
    key = {"drops": drops, "max_side": a.max_side, "uniform": a.uniform, "videos": str(a.videos.resolve())}
    if a.reuse and (a.work / "clips.json").is_file() and json.loads((a.work / "clips.json").read_text())["key"] == key:
        first = {int(k): v for k, v in json.loads((a.work / "clips.json").read_text())["first"].items()}
        scene = load_scene(a.work / "scene")
    else:
        if a.work.exists():
            shutil.rmtree(a.work)
        first = make_clips(a.videos, stamps, drops, a.work / "videos", a.max_side, a.uniform)
        scene = prepare(a.work / "videos", a.work / "scene", "videos", calibration=str(a.calibration),
                        reference=f"cam_{ids[0]}")
        (a.work / "clips.json").write_text(json.dumps({"key": key, "first": first}))
    t0 = time.perf_counter()
    settings = {"max_offset_s": a.max_offset_s, "rates": "1", "device": "cpu"}
    for kv in a.set:
        key, val = kv.split("=", 1)
        settings[key] = type(getattr(AlignConfig(), key))(val) if not isinstance(getattr(AlignConfig(), key), bool) \
            else val.lower() in ("1", "true", "yes")
    res = align_scene(scene, AlignConfig.from_dict(settings))
    took = time.perf_counter() - t0
    ref = scene.reference_camera
    ref_id = int(ref.split("_")[-1])
    gt_of = {c.name: first[int(c.name.split("_")[-1])] - first[ref_id] for c in scene.cameras}
    rows, errs = [], []
    for cam in scene.cameras:
        cid = int(cam.name.split("_")[-1])
        gt = first[cid] - first[ref_id]
        m = res.time_maps.cameras[cam.name]
        err = (m.offset_s - gt) * cam.fps
        rows.append({"camera": cam.name, "drop": drops[cid], "gt_offset_s": gt, "est_offset_s": m.offset_s,
                     "err_frames": err, "status": m.status, "confidence": m.confidence})
        if cam.name != ref:
            errs.append(abs(err))
    out = {"scene": str(a.videos), "cameras": len(scene.cameras), "fps": float(np.median([c.fps for c in scene.cameras])),
           "size": [scene.cameras[0].width, scene.cameras[0].height], "uniform_timing": a.uniform,
           "mae_frames": float(np.mean(errs)), "max_frames": float(np.max(errs)), "align_s": took,
           "timings_s": res.timings_s, "n_tracks": res.n_tracks, "cameras_detail": rows,
           "pairs": [dict(r.to_dict(), gt_lag_s=gt_of[r.cam_b] - gt_of[r.cam_a]) for r in res.pairs]}
    for r in rows:
        print(f"{r['camera']:8s} drop {r['drop']:2d}  gt {r['gt_offset_s']:+.4f} s  est {r['est_offset_s']:+.4f} s  "
              f"err {r['err_frames']:+.3f} fr  {r['status']} ({r['confidence']:.2f})")
    for r in out["pairs"]:
        print(f"  pair {r['cam_a']}-{r['cam_b']}: coarse {r['coarse_lag_s']:+.3f} s conf {r['confidence']:.2f} "
              f"cues {r['cues']} fine {r['fine_lag_s']} inlier {r['inlier']}  gt {r['gt_lag_s']:+.3f}")
    print(f"MAE {out['mae_frames']:.3f} frames, max {out['max_frames']:.3f}, align {took:.1f} s")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
