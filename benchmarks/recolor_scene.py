"""Copy a canonical scene with per-camera exposure / white-balance differences (a benchmark input, not a test).

    python benchmarks/recolor_scene.py SRC DST [--max_exposure 0.3] [--max_wb 0.1] [--seed 0] [--keep cam00]

Every camera except the ``--keep`` ones (default: the scene's reference and test cameras, so evaluation compares
against unchanged colours) gets ``frame * gain`` with ``log gain = exposure + wb_channel``, exposure uniform in
[-max_exposure, max_exposure] and each channel's white-balance term uniform in [-max_wb, max_wb] (clipped to 0..255,
like a camera that saturates). The gains are written to ``DST/appearance_truth.json``. Only image-folder frames
(the canonical layout) are supported.
"""

from __future__ import annotations

import argparse
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from sync4dgs.data.scene import load_scene


def recolor(src: Path, dst: Path, max_exposure: float, max_wb: float, seed: int, keep: list[str] | None) -> dict:
    scene = load_scene(src)
    if dst.exists():
        raise SystemExit(f"{dst} exists")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache"))
    keep = set(keep if keep is not None else [scene.reference_camera, *scene.test_cameras])
    rng = np.random.default_rng(seed)
    truth = {}
    jobs = []
    for cam in scene.cameras:
        if cam.name in keep:
            truth[cam.name] = [1.0, 1.0, 1.0]
            continue
        if cam.frames.kind != "images":
            raise SystemExit(f"camera {cam.name}: only image-folder frames are supported, not {cam.frames.kind}")
        log_gain = rng.uniform(-max_exposure, max_exposure) + rng.uniform(-max_wb, max_wb, 3)
        gain_bgr = np.exp(log_gain)[::-1]
        truth[cam.name] = np.exp(log_gain).tolist()
        folder = dst / cam.frames.path
        jobs += [(p, gain_bgr) for p in sorted(folder.iterdir()) if p.suffix.lower() in (".png", ".jpg", ".jpeg")]

    def work(job):
        path, gain_bgr = job
        img = cv2.imread(str(path), cv2.IMREAD_COLOR).astype(np.float32)
        cv2.imwrite(str(path), np.clip(img * gain_bgr + 0.5, 0, 255).astype(np.uint8))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, jobs))
    out = {"convention": "recorded = true * gain (RGB)", "seed": seed, "max_exposure": max_exposure,
           "max_wb": max_wb, "gains": truth}
    (dst / "appearance_truth.json").write_text(json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--max_exposure", type=float, default=0.3, help="log-gain range of the exposure (0.3: x0.74-1.35)")
    ap.add_argument("--max_wb", type=float, default=0.1, help="per-channel log-gain range (white balance)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", nargs="*", default=None, help="cameras left unchanged (default: reference + test)")
    a = ap.parse_args()
    out = recolor(a.src, a.dst, a.max_exposure, a.max_wb, a.seed, a.keep)
    print(json.dumps(out["gains"]))


if __name__ == "__main__":
    main()
