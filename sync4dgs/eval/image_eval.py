"""Image metrics over a rendered split folder (``renders/`` vs ``gt/``), per image, per camera and overall;
with region masks also moving-/static-region PSNR and SSIM (sync4dgs/eval/region_metrics.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import torch
from tqdm import tqdm

from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.eval.image_metrics import flip, psnr, ssim_from_map, ssim_maps
from sync4dgs.eval.region_metrics import aggregate_regions, region_values
from sync4dgs.eval.render_views import read_png
from sync4dgs.utils.phases import PhaseClock

if TYPE_CHECKING:
    from sync4dgs.eval.motion_regions import RegionMasks

log = logging.getLogger(__name__)
METRIC_KEYS = ("psnr", "ssim", "ssim2", "flip", "lpips_alex")


def flip_subset(names: list[str], max_frames: int) -> set[str]:
    """The image names that get FLIP: per camera at most ``max_frames`` evenly spaced ones (first and last
    included; 0 = all). ``names`` are ``<camera>_<index>.png`` (sync4dgs/eval/layout.py)."""
    by_cam: dict[str, list[str]] = {}
    for n in sorted(names):
        by_cam.setdefault(layout.parse_image_name(n)[0], []).append(n)
    chosen: set[str] = set()
    for cam_names in by_cam.values():
        if max_frames <= 0 or len(cam_names) <= max_frames:
            chosen.update(cam_names)
        else:
            idx = np.unique(np.round(np.linspace(0, len(cam_names) - 1, max_frames)).astype(int))
            chosen.update(cam_names[i] for i in idx)
    return chosen


def image_pairs(split_folder: Path) -> list[tuple[str, Path, Path]]:
    """[(name, render path, gt path)] sorted by name; DataFormatError if folders are missing or unmatched."""
    rdir, gdir = split_folder / "renders", split_folder / "gt"
    if not rdir.is_dir():
        raise DataFormatError(rdir, "no rendered images; run `sync4dgs render` first")
    if not gdir.is_dir():
        raise DataFormatError(gdir, "no ground-truth images next to the renders (rendered with --no_gt?)")
    names = sorted(p.name for p in rdir.glob("*.png"))
    if not names:
        raise DataFormatError(rdir, "folder holds no PNG renders")
    missing = [n for n in names if not (gdir / n).is_file()]
    if missing:
        raise DataFormatError(gdir, f"{len(missing)} ground-truth images missing, e.g. {missing[:3]}")
    return [(n, rdir / n, gdir / n) for n in names]


def _to_float(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(img).to(device=device, dtype=torch.float64) / 255.0


def evaluate_split_images(split_folder: Path, *, lpips: Any | None = None, use_flip: bool = True,
                          device: torch.device | None = None, progress: bool = True,
                          region_masks: "RegionMasks | None" = None,
                          flip_max_frames: int = layout.DEFAULT_FLIP_MAX_FRAMES) -> dict[str, Any]:
    """Metrics of every render/gt pair in ``split_folder``.

    Returns {"n_images", "mean": {metric: value}, "per_camera": {cam: {"n_images", metric: mean[, "regions"]}},
    "per_image": {name: {metric: value[, "regions"]}}[, "regions"][, "lpips_note": why LPIPS was skipped]}.
    Means are over frames (images), per camera over that camera's frames. ``lpips`` is a callable (a, b) -> [B]
    (see lpips_alex) or None. With ``region_masks`` every image also gets {"regions": {region: {"psnr", "ssim",
    "coverage"}}} (region_metrics.region_values) and the split and each camera their aggregate
    (region_metrics.aggregate_regions). The SSIM maps (data range 1 and 2) are computed once per image.
    FLIP only on :func:`flip_subset` (``flip_max_frames`` per camera, 0 = all); its mean is over those frames,
    counted in ``out["n_images_flip"]``.
    ``out["seconds"]``: wall seconds per phase (read, psnr_ssim, flip, lpips, regions) over the split.
    """
    from sync4dgs.eval.lpips_alex import MIN_SIZE as LPIPS_MIN_SIZE  # noqa: PLC0415

    device = device or torch.device("cpu")
    per_image: dict[str, dict[str, Any]] = {}
    lpips_note = None
    pairs = image_pairs(split_folder)
    with_flip = flip_subset([n for n, _, _ in pairs], flip_max_frames) if use_flip else set()
    clock = PhaseClock()
    for name, rp, gp in tqdm(pairs, desc=f"metrics {split_folder.parent.name}", unit="img", disable=not progress):
        with clock("read"):
            r, g = read_png(rp), read_png(gp)
        if r.shape != g.shape:
            raise DataFormatError(rp, f"render is {r.shape[1]}x{r.shape[0]} but gt is {g.shape[1]}x{g.shape[0]}")
        with clock("psnr_ssim"):
            rt, gt = _to_float(r, device), _to_float(g, device)
            smap1, smap2 = ssim_maps(rt, gt, (1.0, 2.0))
            vals: dict[str, Any] = {"psnr": float(psnr(rt, gt)[0]), "ssim": float(ssim_from_map(smap1)[0]),
                                    "ssim2": float(ssim_from_map(smap2)[0])}
        if name in with_flip:
            with clock("flip"):
                vals["flip"] = flip(g.astype(np.float32) / 255.0, r.astype(np.float32) / 255.0)
        if lpips is not None and min(r.shape[:2]) < LPIPS_MIN_SIZE:
            lpips_note = f"skipped: images smaller than {LPIPS_MIN_SIZE} px, too small for AlexNet"
        elif lpips is not None:
            with clock("lpips"):
                vals["lpips_alex"] = float(lpips(rt.float(), gt.float())[0])
        if region_masks is not None:
            with clock("regions"):
                cam, idx = layout.parse_image_name(name)
                masks = {k: torch.from_numpy(m).to(device) for k, m in region_masks.masks(cam, idx, g).items()}
                vals["regions"] = region_values(rt, gt, smap1, masks)
        per_image[name] = vals
    out: dict[str, Any] = {"n_images": len(per_image), "mean": _means(per_image.values()),
                           "per_camera": _per_camera(per_image), "per_image": per_image,
                           "seconds": clock.seconds()}
    if use_flip:
        out["n_images_flip"] = len(with_flip)
    if region_masks is not None:
        out["regions"] = aggregate_regions(v["regions"] for v in per_image.values())
    if lpips_note:
        out["lpips_note"] = lpips_note
    return out


def _means(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Mean of each metric over the rows that have it (FLIP is computed on a subset of frames)."""
    rows = list(rows)
    out = {}
    for k in METRIC_KEYS:
        vals = [r[k] for r in rows if k in r]
        if vals:
            out[k] = float(np.mean(vals))
    return out


def _per_camera(per_image: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, vals in per_image.items():
        cam, _ = layout.parse_image_name(name)
        groups.setdefault(cam, []).append(vals)
    out: dict[str, dict[str, Any]] = {}
    for cam, rows in sorted(groups.items()):
        out[cam] = {"n_images": len(rows), **_means(rows)}
        if all("regions" in r for r in rows):
            out[cam]["regions"] = aggregate_regions(r["regions"] for r in rows)
    return out
