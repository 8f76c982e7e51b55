"""Per-object PSNR of rendered test views of a `sync4dgs synth` scene, and enlarged crops around each moving object.

    python benchmarks/object_region_eval.py SCENE OUT.png MODEL_DIR [MODEL_DIR ...] [--every OBJECT]

The moving-region metric (sync4dgs/data/motion_mask.py) pools all moving pixels, so a small object that is missing
costs little there. This script scores each moving object of a scene from our generator on its own: the region of
object k in test frame i is the disk around its true centre projected into the test camera (radius 1.3 x its
projected bounding radius), with the test camera's TRUE clock (gt_sync.json). Reads
MODEL/test/ours_N/{gt,renders}/*.png (written by `sync4dgs render`, the newest N). Prints one JSON object
{object: [PSNR dB per model]} and writes OUT.png: for every object 4 frames where it is in view, each row
ground truth | model 1 | model 2 ... (crops enlarged to 96 x 96 px, nearest neighbour). With ``--every OBJECT``
the picture holds that one object in EVERY test frame where it is in view (one row per frame, its frame index
printed), to check that it is visible in all of them. Also prints, per object and model, its VISIBILITY per test
frame: 1 - MSE(render) / MSE(temporal median of the truth) over the object's pixels (its disk AND the generator's
moving-pixel mask; 1: the object as in the truth, 0: as if it were absent), over the frames where the object is
in view and differs from the background; the minimum and the frames below 0.5.
"""
from __future__ import annotations

import glob
import json
import sys

import numpy as np
from PIL import Image, ImageDraw

from sync4dgs.data.gt_masks import gt_mask_path, load_gt_masks
from sync4dgs.data.scene import load_scene
from sync4dgs.data.synth.generate import load_synth
from sync4dgs.data.synth.truth import object_centers
from sync4dgs.timemap import load_time_maps

CROP_PX = 96


def _load(folder: str) -> np.ndarray:
    files = sorted(glob.glob(folder + "/*.png"))
    if not files:
        raise SystemExit(f"{folder}: no PNG files")
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]).astype(np.float32) / 255


def _newest_test_dir(model: str) -> str:
    dirs = sorted(glob.glob(model + "/test/ours_*"), key=lambda d: int(d.rsplit("_", 1)[1]))
    if not dirs:
        raise SystemExit(f"{model}: no test/ours_N folder (run `sync4dgs render` first)")
    return dirs[-1]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    every = None
    if "--every" in argv:
        k = argv.index("--every")
        every, argv = argv[k + 1], argv[:k] + argv[k + 2:]
    root, out, models = argv[0], argv[1], argv[2:]
    scene, plan = load_scene(root), load_synth(root)
    cam = scene.camera(scene.test_cameras[0])
    clock = load_time_maps(scene.gt_sync_path).cameras[cam.name]
    t = clock.offset_s + clock.rate * cam.tau_s()                       # [T] global seconds of the test frames
    gt = _load(_newest_test_dir(models[0]) + "/gt")
    runs = [_load(_newest_test_dir(m) + "/renders") for m in models]
    H, W = gt.shape[1:3]
    yy, xx = np.mgrid[0:H, 0:W]
    centres = object_centers(plan.scene, t)
    median = np.median(gt, axis=0)                                   # [H, W, 3] the video without its movers
    movers = load_gt_masks(gt_mask_path(root, cam.name))[:len(gt)]   # [T, H, W] the generator's moving pixels
    scores, rows, seen_frac = {}, [], {}
    for prim in plan.scene.moving:
        xc = centres[prim.name] @ cam.R.T + cam.t                     # [T, 3] camera coordinates
        z = xc[:, 2]
        uv = (xc @ cam.K.T)[:, :2] / np.maximum(z, 1e-9)[:, None]
        r_px = cam.K[0, 0] * max(prim.size) / np.maximum(z, 1e-9) * 1.3
        sq = [[] for _ in runs]
        explained = [[] for _ in runs]
        for i in range(len(t)):
            disk = ((xx + 0.5 - uv[i, 0]) ** 2 + (yy + 0.5 - uv[i, 1]) ** 2 < r_px[i] ** 2) & (z[i] > 0)
            if disk.sum() < 4:
                continue
            on = disk & movers[i]                                        # the object's own pixels
            absent = ((median - gt[i]) ** 2)[on].mean() if on.sum() >= 2 else 0.0  # error without the object
            for k, r in enumerate(runs):
                sq[k].append(((r[i] - gt[i]) ** 2)[disk].mean())
                if absent > 1e-3:        # the object is in view and differs from the background
                    explained[k].append((i, 1.0 - ((r[i] - gt[i]) ** 2)[on].mean() / absent))
        scores[prim.name] = [round(float(-10 * np.log10(np.mean(e))), 2) if e else None for e in sq]
        seen_frac[prim.name] = [{"frames": len(e), "min": round(float(min(v for _, v in e)), 2) if e else None,
                                 "below_0.5": [i for i, v in e if v < 0.5]} for e in explained]
        seen = [i for i in range(len(t)) if z[i] > 0 and 0 <= uv[i, 0] < W and 0 <= uv[i, 1] < H]
        if every is not None and prim.name != every:
            continue
        picked = seen if every is not None else seen[:: max(1, len(seen) // 4)][:4]
        for i in picked:
            s, cx, cy = int(max(8, r_px[i] * 2.5)), int(uv[i, 0]), int(uv[i, 1])

            def crop(img: np.ndarray) -> np.ndarray:
                pad = np.pad(img, ((s, s), (s, s), (0, 0)))[cy:cy + 2 * s, cx:cx + 2 * s]
                im = Image.fromarray((pad * 255).round().astype(np.uint8))
                return np.asarray(im.resize((CROP_PX, CROP_PX), Image.NEAREST))
            row = np.concatenate([crop(gt[i])] + [crop(r[i]) for r in runs], 1)
            if every is not None:
                label = Image.fromarray(row)
                ImageDraw.Draw(label).text((2, 2), f"frame {i}", fill=(255, 255, 255))
                row = np.asarray(label)
            rows.append(row)
    print(json.dumps(scores))
    # visibility: per frame, the share of the no-object error (temporal median vs truth, in the object's disk)
    # that the render removes; 1 = the object as in the truth, 0 = as if absent. Frames listed: below 0.5.
    print("visibility " + json.dumps(seen_frac))
    if rows:
        Image.fromarray(np.concatenate(rows, 0)).save(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
