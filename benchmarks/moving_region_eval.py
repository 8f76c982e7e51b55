"""Moving- and static-region PSNR of rendered test views, and a ground truth | run A | run B ... montage.

    python benchmarks/moving_region_eval.py --out DIR --label NAME MODEL_DIR [--label NAME MODEL_DIR ...]

Reads MODEL/test/ours_N/{gt,renders}/*.png (written by `sync4dgs render`). The moving mask is the definition of
sync4dgs/data/motion_mask.py on the ground-truth video itself (differs from its temporal median by > 0.1 in some
channel). Writes DIR/moving_region.json (per run: full / moving / static PSNR, mask coverage, frames) and
DIR/montage.png (rows: 4 evenly spaced test frames; columns: ground truth, then each run).
"""
import argparse
import glob
import json
from pathlib import Path

import numpy as np
from PIL import Image

from sync4dgs.data.motion_mask import moving_mask


def _load(folder: str) -> np.ndarray:
    files = sorted(glob.glob(folder + "/*.png"))
    if not files:
        raise SystemExit(f"{folder}: no PNG files")
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]).astype(np.float32) / 255


def _psnr(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    if not m.any():
        return float("nan")
    return float(10 * np.log10(1 / max(float(((a - b) ** 2)[m].mean()), 1e-10)))


def evaluate(model_dir: str) -> tuple[dict, np.ndarray, np.ndarray]:
    d = sorted(glob.glob(model_dir + "/test/ours_*"), key=lambda p: int(p.rsplit("_", 1)[1]))[-1]
    gt, rd = _load(d + "/gt"), _load(d + "/renders")
    masks = moving_mask(gt)
    full = [_psnr(r, g, np.ones(g.shape[:2], bool)) for r, g in zip(rd, gt)]
    mov = [_psnr(r, g, m) for r, g, m in zip(rd, gt, masks)]
    sta = [_psnr(r, g, ~m) for r, g, m in zip(rd, gt, masks)]
    return ({"full_psnr": float(np.mean(full)), "moving_psnr": float(np.nanmean(mov)),
             "static_psnr": float(np.mean(sta)), "moving_coverage": float(masks.mean()), "frames": len(gt),
             "renders": d}, gt, rd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", action="append", nargs=2, metavar=("NAME", "MODEL_DIR"), required=True)
    ap.add_argument("--rows", type=int, default=4)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, gt, cols = {}, None, []
    for name, model in args.label:
        res, g, rd = evaluate(model)
        results[name] = res
        gt = g if gt is None else gt
        cols.append(rd)
        print(f"{name:24s} full {res['full_psnr']:6.2f}  moving {res['moving_psnr']:6.2f}  static "
              f"{res['static_psnr']:6.2f} dB  (moving pixels {100 * res['moving_coverage']:.1f} %)")
    idx = np.linspace(0, len(gt) - 1, args.rows + 2).round().astype(int)[1:-1]
    rows = [np.concatenate([gt[i]] + [c[min(i, len(c) - 1)] for c in cols], 1) for i in idx]
    Image.fromarray((np.concatenate(rows, 0) * 255 + 0.5).astype(np.uint8)).save(out / "montage.png")
    (out / "moving_region.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
