"""Score Ex4DGS runs (and optionally sync4dgs models) on one scene with OUR metrics code, on the same frames.

    python benchmarks/peers/ex4dgs/score.py --out DIR --name demo \
        --ex4dgs naive RUN_DIR --ex4dgs oracle RUN_DIR [--sync4dgs oracle MODEL_DIR ...]

An Ex4DGS RUN_DIR holds ``input/`` (ex4dgs_input.py's folder, with ex4dgs_input.json), ``renders/``
(render_test.py: ``<timestamp:05d>.png`` + render_stats.json) and, when present, ``train_stats.json``
(train_capped.py). Render j of the test view is compared with the scene's own test-camera frame that the
manifest names for timestamp j (read through sync4dgs.data.frames.open_frames, never through Ex4DGS). A
sync4dgs MODEL_DIR is scored from ``test/ours_<N>/renders/<camera>_<frame:05d>.png`` (the newest N) against the
same scene frames; its ``train_stats.json`` and, when present, results.json's FPS are reported as they are.

Metrics (sync4dgs.eval, conventions as in every results.json): full-frame PSNR and SSIM, and PSNR / SSIM in the
moving / static regions (sync4dgs.eval.motion_regions: estimated from the test camera's own video; plus the
generator's true masks, ``moving_true`` / ``static_true``, when the scene has gt_masks/). Two frame sets: each
run's own frames (``own``), and the frames of the test camera that EVERY run rendered (``common``: the table
compares runs there). Writes DIR/<name>_peers.json and DIR/<name>_montage.png (ground truth with the moving
outline | each run, 4 evenly spaced common frames). Both atomically.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sync4dgs.data.frames import open_frames
from sync4dgs.data.scene import load_scene
from sync4dgs.eval.image_metrics import METRIC_CONVENTIONS, psnr, ssim_from_map, ssim_map
from sync4dgs.eval.layout import parse_image_name
from sync4dgs.eval.montage import compose, evenly_spaced, tile_size, with_outline
from sync4dgs.eval.motion_regions import RegionMasks
from sync4dgs.eval.region_metrics import REGION_CONVENTIONS, aggregate_regions, region_values
from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path, write_json

MANIFEST = "ex4dgs_input.json"


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def ex4dgs_frames(run: Path) -> tuple[dict, dict[int, Path], dict]:
    """(manifest, {our test-camera frame index: render file}, extra info) of one Ex4DGS run folder."""
    man_path = run / "input" / MANIFEST
    if not man_path.is_file():
        raise DataFormatError(man_path, "not found (run ex4dgs_input.py into RUN/input)")
    man = json.loads(man_path.read_text())
    frames: dict[int, Path] = {}
    for j, i in enumerate(man["test_frames"]):
        f = run / "renders" / f"{j:05d}.png"
        if f.is_file():
            frames.setdefault(int(i), f)       # a frame re-used for two timestamps is scored once (the first)
    if not frames:
        raise DataFormatError(run / "renders", "no rendered test frames <timestamp:05d>.png")
    test_err = man["views"]["cam00"]["time_error_s"]
    info = {"kind": "ex4dgs", "mode": man["mode"], "input_time_error_frames": man["time_error_frames"],
            "test_time_error_frames_max": float(np.abs(test_err).max() * man["timeline"]["fps"]),
            "timeline": man["timeline"]}
    for name in ("train_stats.json", "renders/render_stats.json"):
        p = run / name
        if p.is_file():
            info[Path(name).stem] = json.loads(p.read_text())
    return man, frames, info


def sync4dgs_frames(model: Path, test_camera: str) -> tuple[dict[int, Path], dict]:
    """({frame index: render file}, extra info) of the test camera in a sync4dgs model folder."""
    dirs = sorted(glob.glob(str(model / "test" / "ours_*")), key=lambda p: int(re.sub(r"\D", "", Path(p).name) or 0))
    if not dirs:
        raise DataFormatError(model, "no test/ours_<N> renders (run `sync4dgs render`)")
    frames: dict[int, Path] = {}
    for f in sorted((Path(dirs[-1]) / "renders").glob("*.png")):
        cam, idx = parse_image_name(f.name)
        if cam == test_camera:
            frames[idx] = f
    if not frames:
        raise DataFormatError(Path(dirs[-1]) / "renders", f"no renders of test camera {test_camera}")
    info: dict = {"kind": "sync4dgs", "renders": dirs[-1]}
    for name in ("train_stats.json", "results.json"):
        p = model / name
        if p.is_file():
            info[Path(name).stem] = json.loads(p.read_text())
    return frames, info


def score_frames(scene, camera: str, frames: dict[int, Path], indices: list[int], regions: RegionMasks) -> dict:
    """Full-frame and region metrics of the renders ``frames`` at our frame ``indices`` of ``camera``."""
    src = open_frames(scene, camera)
    full_p, full_s, rows = [], [], []
    for i in indices:
        gt_u8 = src[i]
        r_u8 = _png(frames[i])
        if r_u8.shape != gt_u8.shape:
            raise DataFormatError(frames[i], f"render {r_u8.shape} does not match the frame {gt_u8.shape}")
        a = torch.from_numpy(r_u8.astype(np.float32) / 255.0)
        b = torch.from_numpy(gt_u8.astype(np.float32) / 255.0)
        smap = ssim_map(a, b)
        full_p.append(float(psnr(a, b)[0]))
        full_s.append(float(ssim_from_map(smap)[0]))
        masks = {k: torch.from_numpy(v) for k, v in regions.masks(camera, i, gt_u8).items()}
        rows.append(region_values(a, b, smap, masks))
    return {"frames": len(indices), "psnr": float(np.mean(full_p)), "ssim": float(np.mean(full_s)),
            "regions": aggregate_regions(rows), "per_frame_psnr": dict(zip(map(str, indices), full_p))}


def _montage(path: Path, scene, camera: str, runs: dict[str, dict[int, Path]], common: list[int],
             regions: RegionMasks) -> None:
    src = open_frames(scene, camera)
    rows, labels = [], []
    for k in evenly_spaced(len(common), 4):
        i = common[k]
        g = src[i]
        size = tile_size(g.shape[1], g.shape[0])
        mov = regions.masks(camera, i, g).get("moving")
        rows.append([with_outline(g, mov, size)] + [with_outline(_png(fr[i]), None, size) for fr in runs.values()])
        labels.append(f"{camera} frame {i}")
    img = compose(rows, ["ground truth (moving outline)", *runs], labels)
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True, help="scene label for the output files")
    ap.add_argument("--ex4dgs", nargs=2, action="append", default=[], metavar=("LABEL", "RUN_DIR"))
    ap.add_argument("--sync4dgs", nargs=2, action="append", default=[], metavar=("LABEL", "MODEL_DIR"))
    args = ap.parse_args(argv)
    if not args.ex4dgs:
        ap.error("give at least one --ex4dgs LABEL RUN_DIR")
    try:
        runs, infos, scene_dir, test_cam = {}, {}, None, None
        for label, d in args.ex4dgs:
            man, frames, info = ex4dgs_frames(Path(d))
            if scene_dir not in (None, man["scene"]) or test_cam not in (None, man["test_camera"]):
                raise DataFormatError(Path(d) / "input" / MANIFEST, f"scene/test camera differ from the first run's "
                                                                    f"({scene_dir}, {test_cam})")
            scene_dir, test_cam = man["scene"], man["test_camera"]
            runs[f"ex4dgs_{label}"], infos[f"ex4dgs_{label}"] = frames, info
        for label, d in args.sync4dgs:
            frames, info = sync4dgs_frames(Path(d), test_cam)
            runs[f"sync4dgs_{label}"], infos[f"sync4dgs_{label}"] = frames, info
        scene = load_scene(scene_dir)
        regions = RegionMasks(scene)
        common = sorted(set.intersection(*(set(f) for f in runs.values())))
        if not common:
            raise DataFormatError(Path(args.out), "the runs share no test frame")
        result = {"scene": scene_dir, "test_camera": test_cam, "common_frames": common,
                  "conventions": {**METRIC_CONVENTIONS, **REGION_CONVENTIONS}, "runs": {}}
        for name, frames in runs.items():
            own = sorted(frames)
            result["runs"][name] = {**infos[name],
                                    "common": score_frames(scene, test_cam, frames, common, regions),
                                    "own": score_frames(scene, test_cam, frames, own, regions)}
    except DataFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{args.name}_peers.json", result)
    _montage(out / f"{args.name}_montage.png", scene, test_cam, runs, common, regions)
    print(f"{args.name}: {len(common)} common test frames of {test_cam}")
    for name, r in result["runs"].items():
        c, reg = r["common"], r["common"]["regions"]
        mv, st = reg.get("moving", {}).get("psnr"), reg.get("static", {}).get("psnr")
        print(f"  {name:20s} full {c['psnr']:6.2f} dB  SSIM {c['ssim']:.4f}  moving "
              f"{mv if mv is None else round(mv, 2)}  static {st if st is None else round(st, 2)} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
