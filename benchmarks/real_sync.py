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


MARKER_MAX_EPI_PX = 3.0  # marker timing of a camera is trusted only if its markers fit the calibration this well


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


def _marker_corners(path: Path, times: np.ndarray, K: np.ndarray, dist: np.ndarray, calib_width: int,
                    dictionary: int) -> dict[int, np.ndarray]:
    """ArUco marker corners of every frame of one ORIGINAL video: {marker_id * 4 + corner: [n, 3] rows
    (capture time s, normalised undistorted x, y)}. Inverted (white-on-black) markers are tried first.
    K is for images ``calib_width`` wide and is scaled to the video's width."""
    import cv2  # noqa: PLC0415

    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(dictionary), cv2.aruco.DetectorParameters())
    out: dict[int, list] = {}
    frames = read_frames(path)
    s = frames[0].shape[1] / calib_width
    K = np.diag([s, s, 1.0]) @ K
    for i, rgb in enumerate(frames):
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        for img in (255 - g, g):
            corners, ids, _ = det.detectMarkers(img)
            if ids is None or not len(ids):
                continue
            for q, m in zip(corners, ids.ravel()):
                n = cv2.undistortPoints(q.reshape(-1, 1, 2).astype(np.float64), K, dist).reshape(-1, 2)
                for j in range(4):
                    out.setdefault(int(m) * 4 + j, []).append((times[i], n[j, 0], n[j, 1]))
            break
    return {k: np.asarray(sorted(v)) for k, v in out.items() if len(v) >= 2}


def marker_timing(videos: Path, calibration: Path, stamps: dict[int, np.ndarray], ref: int,
                  dictionary: str = "DICT_4X4_1000", search_s: float = 0.3, step_s: float = 0.005) -> dict:
    """Per camera c, the timing error delta_c (s) of its timestamps relative to camera ``ref``, measured
    WITHOUT sync4dgs from the calibration board's ArUco markers: c's marker corners, interpolated linearly in
    time at (ref's capture time + delta), against the epipolar lines (known calibration) of the same corners
    seen by ``ref``; delta minimises the median epipolar distance (px of ref's full resolution, grid of
    ``step_s`` then a parabola). Event seen by ref at its stamp T is in c's frames stamped T + delta, so c's
    true capture times are its stamps - delta. Returns {cam_id: {"delta_s", "epi_px", "epi_px_at_0", "n"}}."""
    import cv2  # noqa: PLC0415
    import tomllib  # noqa: PLC0415

    doc = tomllib.loads(calibration.read_text())
    cams = {int(t.get("cam_id", t.get("port", k))): t for k, t in doc["cameras"].items()}
    geo = {c: (np.asarray(t["matrix"], float), np.asarray(t["distortions"], float), np.asarray(t["rotation"], float),
               np.asarray(t["translation"], float)) for c, t in cams.items()}
    if any(g[2].shape != (3, 3) for g in geo.values()):
        raise DataFormatError(calibration, "marker timing needs 3x3 rotation matrices")
    d = getattr(cv2.aruco, dictionary)
    obs = {c: _marker_corners(videos / f"cam_{c}.mp4", stamps[c], geo[c][0], geo[c][1], int(cams[c]["size"][0]), d)
           for c in sorted(stamps)}
    out = {ref: {"delta_s": 0.0, "epi_px": 0.0, "epi_px_at_0": 0.0, "n": 0}}
    deltas = np.arange(-search_s, search_s + 1e-9, step_s)
    for c in sorted(stamps):
        if c == ref:
            continue
        r_ = geo[ref][2] @ geo[c][2].T
        t_ = geo[ref][3] - r_ @ geo[c][3]
        e = np.array([[0, -t_[2], t_[1]], [t_[2], 0, -t_[0]], [-t_[1], t_[0], 0]]) @ r_   # x_ref^T E x_c = 0
        med, cnt = [], []
        for delta in deltas:
            ds = []
            for kp, b in obs[ref].items():
                a = obs[c].get(kp)
                if a is None:
                    continue
                tq = b[:, 0] + delta
                k = np.clip(np.searchsorted(a[:, 0], tq) - 1, 0, len(a) - 2)
                gap = a[k + 1, 0] - a[k, 0]
                ok = (tq >= a[k, 0]) & (tq <= a[k + 1, 0]) & (gap < 0.25)
                f = (tq - a[k, 0]) / np.maximum(gap, 1e-9)
                p = a[k, 1:] * (1 - f)[:, None] + a[k + 1, 1:] * f[:, None]
                ln = np.c_[p, np.ones(len(p))] @ e.T
                dist = np.abs((np.c_[b[:, 1:], np.ones(len(b))] * ln).sum(1)) / np.hypot(ln[:, 0], ln[:, 1])
                ds.append(dist[ok] * geo[ref][0][0, 0])
            ds = np.concatenate(ds) if ds else np.zeros(0)
            med.append(float(np.median(ds)) if len(ds) >= 30 else np.inf)
            cnt.append(len(ds))
        med = np.asarray(med)
        if not np.isfinite(med).any():
            out[c] = {"delta_s": float("nan"), "epi_px": float("nan"), "epi_px_at_0": float("nan"), "n": 0}
            continue
        j = int(np.argmin(med))
        best = float(deltas[j])
        if 0 < j < len(med) - 1 and np.isfinite(med[j - 1:j + 2]).all():
            den = med[j - 1] - 2 * med[j] + med[j + 1]
            if den > 0:
                best += float(np.clip(0.5 * (med[j - 1] - med[j + 1]) / den, -0.5, 0.5)) * step_s
        out[c] = {"delta_s": best, "epi_px": float(med[j]), "epi_px_at_0": float(med[len(deltas) // 2]),
                  "n": int(cnt[j])}
    return out


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
    ap.add_argument("--marker_timing", action="store_true",
                    help="also measure each camera's timestamp error from the board's ArUco markers (independent of "
                         "sync4dgs) and report errors against the corrected ground truth")
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
    key = {"drops": {str(k): v for k, v in drops.items()}, "max_side": a.max_side, "uniform": a.uniform, "videos": str(a.videos.resolve())}
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
    mt = marker_timing(a.videos, a.calibration, stamps, ref_id) if a.marker_timing else None
    # a camera whose markers do not fit the calibration (its video and calibration disagree) gets no correction
    lat = {c: (mt[c]["delta_s"] if mt and mt[c]["epi_px"] <= MARKER_MAX_EPI_PX else 0.0) for c in ids}
    if mt:
        for c in ids:
            if mt[c]["epi_px"] > MARKER_MAX_EPI_PX:
                print(f"cam_{c}: marker timing not used (median epipolar distance {mt[c]['epi_px']:.1f} px > "
                      f"{MARKER_MAX_EPI_PX} px: the calibration does not fit this camera's video)")
    gt_of = {c.name: first[int(c.name.split("_")[-1])] - first[ref_id] for c in scene.cameras}
    gt_m = {c.name: gt_of[c.name] - lat[int(c.name.split("_")[-1])] for c in scene.cameras}
    rows, errs, errs_m = [], [], []
    for cam in scene.cameras:
        cid = int(cam.name.split("_")[-1])
        gt = first[cid] - first[ref_id]
        m = res.time_maps.cameras[cam.name]
        err = (m.offset_s - gt) * cam.fps
        err_m = (m.offset_s - gt_m[cam.name]) * cam.fps
        rows.append({"camera": cam.name, "drop": drops[cid], "gt_offset_s": gt, "est_offset_s": m.offset_s,
                     "err_frames": err, "status": m.status, "confidence": m.confidence,
                     "marker_delta_s": lat[cid] if mt else None, "gt_marker_offset_s": gt_m[cam.name] if mt else None,
                     "err_marker_frames": err_m if mt else None})
        if cam.name != ref:
            errs.append(abs(err))
            errs_m.append(abs(err_m))
    out = {"scene": str(a.videos), "cameras": len(scene.cameras), "fps": float(np.median([c.fps for c in scene.cameras])),
           "size": [scene.cameras[0].width, scene.cameras[0].height], "uniform_timing": a.uniform,
           "mae_frames": float(np.mean(errs)), "max_frames": float(np.max(errs)), "align_s": took,
           "marker_timing": {str(k): v for k, v in mt.items()} if mt else None,
           "mae_marker_frames": float(np.mean(errs_m)) if mt else None,
           "max_marker_frames": float(np.max(errs_m)) if mt else None,
           "timings_s": res.timings_s, "n_tracks": res.n_tracks, "cameras_detail": rows,
           "fg_mode": res.time_maps.extra.get("fg_mode", res.config.fg_mode),
           "pairs": [dict(r.to_dict(), gt_lag_s=gt_of[r.cam_b] - gt_of[r.cam_a]) for r in res.pairs]}
    for r in rows:
        extra = "" if not mt else (f"  | marker delta {r['marker_delta_s']:+.3f} s, err vs marker-corrected gt "
                                   f"{r['err_marker_frames']:+.3f} fr")
        print(f"{r['camera']:8s} drop {r['drop']:2d}  gt {r['gt_offset_s']:+.4f} s  est {r['est_offset_s']:+.4f} s  "
              f"err {r['err_frames']:+.3f} fr  {r['status']} ({r['confidence']:.2f}){extra}")
    for r in out["pairs"]:
        print(f"  pair {r['cam_a']}-{r['cam_b']}: coarse {r['coarse_lag_s']:+.3f} s conf {r['confidence']:.2f} "
              f"cues {r['cues']} fine {r['fine_lag_s']} inlier {r['inlier']}  gt {r['gt_lag_s']:+.3f}")
    print(f"MAE {out['mae_frames']:.3f} frames, max {out['max_frames']:.3f}, align {took:.1f} s"
          + ("" if not mt else f"; vs marker-corrected gt: MAE {out['mae_marker_frames']:.3f}, "
             f"max {out['max_marker_frames']:.3f}"))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
