"""Stage 1 on Pose2Sim's Demo_SinglePerson (a real calibrated lab recording) with injected time offsets.

Input: the demo's ``videos/`` folder (cam01.mp4 .. cam04.mp4, 60 fps, 100 frames, portrait 1080x1920 /
1088x1920) and its ``calibration/Calib.qca.txt`` (perfanalytics/pose2sim, BSD-3-Clause; not committed here).
The recording as given is synchronized to within about half a frame (benchmarks/pose2sim_truth.py, measured
from the OpenPose keypoints Pose2Sim shipped with these videos; see RESULTS.md), so its truth is taken as 0.

Each offset set gives every camera a delay d_c >= 0 (frames, may be fractional): the clip's frame i is the
original frame i + d_c, a linear blend of the two neighbouring frames when d_c is not an integer (a
sub-frame offset; the blend is an approximation of a camera sampling in between). The ground truth in
sync4dgs's ``offsets.json`` convention is then offset_c = d_c - d_ref frames (dropping k leading frames of a
camera adds +k). Clips are downscaled by ``--downscale`` (area) before ``prepare``.

With ``--decimate K`` every clip keeps every K-th frame from its (integer) delay on, at fps / K: a delay that is
not a multiple of K is then an exact sub-frame offset of the decimated clips (delay 1 at K = 2: half a frame), a
real camera sampling in between, with no blended frames. Truth and errors are then in decimated frames.

    python benchmarks/pose2sim_sync.py DEMO_DIR --work /tmp/p2s_work [--sets "0,3,7,2;0,0.5,2.25,1.5"]
        [--decimate K] [--set KEY=VALUE ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync4dgs.data.readers import prepare  # noqa: E402
from sync4dgs.data.video import write_video  # noqa: E402
from sync4dgs.sync.align import AlignConfig, align_scene  # noqa: E402

DEFAULT_SETS = "0,0,0,0;0,3,7,2;0,0.5,2.25,1.5;2,0,4.5,0.75"
"""Offset sets (frames per camera, cam01..cam04): as recorded; integer drops; sub-frame; reference delayed."""


def read_video(path: Path, downscale: int) -> list[np.ndarray]:
    """All frames of a video as float32 RGB (area downscale by ``downscale``).

    The frame is first padded at the right / bottom (edge replicated) to a multiple of 16 pixels: the demo's
    1080-wide videos are 1088-wide sensor images cropped by the codec, and the importer accepts a downscaled
    clip only at the calibration's aspect ratio.
    """
    import cv2  # noqa: PLC0415

    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, im = cap.read()
        if not ok:
            break
        h, w = im.shape[:2]
        im = cv2.copyMakeBorder(im, 0, -h % 16, 0, -w % 16, cv2.BORDER_REPLICATE)
        h, w = im.shape[:2]
        small = cv2.resize(im, (w // downscale, h // downscale), interpolation=cv2.INTER_AREA)
        out.append(small[..., ::-1].astype(np.float32))
    cap.release()
    return out


def shifted_clip(frames: list[np.ndarray], delay: float, n_out: int, decimate: int = 1) -> list[np.ndarray]:
    """Frames decimate x i + delay (linear blend for a fractional delay, frames) for i < n_out, as uint8."""
    k = int(math.floor(delay))
    w = delay - k
    if decimate > 1 and w != 0:
        raise ValueError(f"--decimate needs integer delays, got {delay}")
    out = []
    for i in range(n_out):
        a = frames[decimate * i + k]
        f = a if w == 0 else (1 - w) * a + w * frames[decimate * i + k + 1]
        out.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return out


def parse_settings(items: list[str]) -> dict:
    """--set KEY=VALUE items -> AlignConfig dict (typed by the default's type)."""
    base = AlignConfig()
    out = {}
    for kv in items:
        key, val = kv.split("=", 1)
        default = getattr(base, key)
        out[key] = val.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(val)
    return out


def run_set(demo: Path, originals: dict[str, list[np.ndarray]], fps: float, delays: list[float], work: Path,
            settings: dict, decimate: int = 1) -> dict:
    """Write one offset set's clips, prepare, align; returns per-camera rows and the summary (frames of the
    written clips, fps / decimate)."""
    names = sorted(originals)
    n_in = min(len(v) for v in originals.values())
    n_out = (n_in - int(math.ceil(max(delays))) - 2) // decimate + 1
    fps_in, fps = fps, fps / decimate
    if work.exists():
        shutil.rmtree(work)
    (work / "videos").mkdir(parents=True)
    for name, d in zip(names, delays):
        write_video(work / "videos" / f"{name}.mp4", shifted_clip(originals[name], d, n_out, decimate), fps, crf=14)
    scene = prepare(work / "videos", work / "scene", "videos", calibration=str(demo / "calibration" / "Calib.qca.txt"),
                    reference=names[0])
    cfg = AlignConfig.from_dict({"device": "cpu", **settings})
    t0 = time.perf_counter()
    res = align_scene(scene, cfg)
    took = time.perf_counter() - t0
    rows = []
    for name, d in zip(names, delays):
        m = res.time_maps.cameras[name]
        gt = (d - delays[0]) * fps / fps_in
        est = m.offset_s * fps
        rows.append({"camera": name, "gt_frames": gt, "est_frames": est, "err_frames": est - gt,
                     "status": m.status, "confidence": m.confidence})
    others = [r for r in rows if r["camera"] != names[0]]
    errs = np.abs([r["err_frames"] for r in others])
    bad = [r["camera"] for r in others if r["status"] == "aligned" and abs(r["err_frames"]) > 0.5]
    return {"delays": delays, "frames": n_out, "align_s": took, "rows": rows, "mae": float(errs.mean()),
            "max": float(errs.max()), "n_aligned": sum(r["status"] == "aligned" for r in others),
            "aligned_wrong": bad, "fg_mode": res.time_maps.extra.get("fg_mode", cfg.fg_mode)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("demo", type=Path, help="Demo_SinglePerson folder (videos/, calibration/Calib.qca.txt)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--sets", default=DEFAULT_SETS, help="';'-separated offset sets, frames per camera")
    ap.add_argument("--downscale", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="AlignConfig setting")
    ap.add_argument("--decimate", type=int, default=1, help="keep every K-th frame (exact sub-frame offsets)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import cv2  # noqa: PLC0415

    vids = sorted((a.demo / "videos").glob("cam*.mp4"))
    fps = cv2.VideoCapture(str(vids[0])).get(cv2.CAP_PROP_FPS)
    originals = {v.stem: read_video(v, a.downscale) for v in vids}
    settings = parse_settings(a.set)
    results = []
    for i, spec in enumerate(a.sets.split(";")):
        delays = [float(x) for x in spec.split(",")]
        r = run_set(a.demo, originals, fps, delays, a.work / f"set{i}", settings, a.decimate)
        results.append(r)
        cells = "  ".join(f"{x['camera']} {x['est_frames']:+.2f} (gt {x['gt_frames']:+.2f}, err {x['err_frames']:+.2f}, "
                          f"{x['status']} {x['confidence']:.2f})" for x in r["rows"][1:])
        print(f"set {spec}: {cells}  | MAE {r['mae']:.2f} max {r['max']:.2f} aligned {r['n_aligned']}/3 "
              f"wrong-aligned {r['aligned_wrong']} | align {r['align_s']:.1f} s", flush=True)
    base = next((r for r in results if not any(r["delays"])), None)
    if base is not None and len(results) > 1:
        add_relative_errors(results, base)
        for r in results:
            if r is base:
                continue
            cells = "  ".join(f"{x['camera']} {x['rel_err_frames']:+.2f} ({x['status']})" for x in r["rows"][1:])
            print(f"set {','.join(f'{d:g}' for d in r['delays'])} vs the as-recorded run + the delays: {cells}  | "
                  f"MAE {r['rel_mae']:.2f} max {r['rel_max']:.2f} wrong-aligned {r['rel_aligned_wrong']}", flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return results


def add_relative_errors(results: list[dict], base: dict) -> None:
    """Errors against the as-recorded run's own estimates plus each set's injected delays (in place: rows get
    ``rel_err_frames``, sets ``rel_mae``, ``rel_max``, ``rel_aligned_wrong``). The recording is synchronized only
    to about +-0.5 frame, so the injected delays alone are not an exact truth; the difference between two runs of
    the same recording is (the shared, unknown latency cancels), whatever the statuses of the as-recorded run."""
    ref = {x["camera"]: x["est_frames"] for x in base["rows"]}
    for r in results:
        for x in r["rows"]:
            x["rel_err_frames"] = x["est_frames"] - (ref[x["camera"]] + x["gt_frames"])
        others = r["rows"][1:]
        errs = np.abs([x["rel_err_frames"] for x in others])
        r["rel_mae"], r["rel_max"] = float(errs.mean()), float(errs.max())
        r["rel_aligned_wrong"] = [x["camera"] for x in others if x["status"] == "aligned" and abs(x["rel_err_frames"]) > 0.5]


if __name__ == "__main__":
    main()
