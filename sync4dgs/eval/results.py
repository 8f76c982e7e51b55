"""``M/results.json``: image metrics, offset errors, model size, training time and render speed of a model.

Library part of ``sync4dgs metrics``. Image metrics are computed from the PNGs written by ``sync4dgs render``
(3DGS convention); everything else from the model folder and its scene. The schema (all numbers finite; a value
that could not be computed is null with a reason nearby):

```
{"version": 1, "model_path", "scene", "iteration", "conventions": {...},
 "images": {"test": {"n_images", "n_images_flip", "mean": {psnr, ssim, ssim2, flip[, lpips_alex]},
                     "regions": {region: {"psnr", "ssim", "coverage", "n_images", "n_images_ssim", "n_empty"}},
                     "per_camera": {cam: {"n_images", psnr, ..., "regions": {...}}}[, "region_notes"]},
            "train": ...},
 "lpips": {"status": "computed" | "unavailable", "reason" | "weights"},
 "offsets": {"status": "computed" | "no ground truth", "gt_file", "learned": {...}, "initial": {...} | null,
             "stage1": {...} | null},
 "model": {"n_static", "n_dynamic", "n_total", "size_mb", "parameter_mb"},
 "training": {... M/train_stats.json ...} | null,
 "render_speed": {"fps", "ms_median", ...} | null,
 "test_clocks": {camera: {"source", "offset_s", "rate"[, "test_time_fit"][, "error_frames"]}}}
```
Per-image values go to ``M/per_view.json`` (with their "regions").

Regions (sync4dgs/eval/region_metrics.py, definitions also under "conventions"): ``moving`` = pixels of a
ground-truth frame farther than 0.1 (some channel) from its camera's temporal median over all of that camera's
frames (sync4dgs/data/motion_mask.py), ``static`` = the rest; ``moving_true`` / ``static_true`` = the synthetic
generator's true object masks (``<scene>/gt_masks/``, only when present). Region PSNR: per image
10 log10(1 / MSE over the region's pixels, all channels), capped at 100 dB, then the mean over frames whose
region is not empty (``n_empty`` frames skipped); region SSIM: the mean of the SSIM map over the region's pixels
(inside the 3 px valid border), mean over frames; ``coverage``: mean fraction of pixels in the region over all
frames. A frame's moving pixels are a few % of it, so full-frame PSNR barely sees them: the region numbers do.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.eval.image_eval import evaluate_split_images
from sync4dgs.eval.image_metrics import METRIC_CONVENTIONS, PSNR_CAP_DB
from sync4dgs.eval.cpu_threads import eval_cpu_threads, torch_threads
from sync4dgs.eval.loading import OpenedModel, open_model
from sync4dgs.eval.motion_regions import RegionMasks
from sync4dgs.eval.region_metrics import REGION_CONVENTIONS
from sync4dgs.eval.offset_errors import offset_errors
from sync4dgs.eval.render_views import settings_from_meta, split_cameras
from sync4dgs.eval.timing import measure_render_fps
from sync4dgs.model import folder
from sync4dgs.timemap import load_time_maps, rereference
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)
RESULTS_VERSION = 1
PER_VIEW_FILE = "per_view.json"
LPIPS_ENV = "SYNC4DGS_LPIPS_WEIGHTS"
LPIPS_UNAVAILABLE = ("no LPIPS weights given (--lpips_weights PATH or $SYNC4DGS_LPIPS_WEIGHTS). LPIPS-Alex needs "
                     "torchvision's AlexNet backbone (alexnet-owt-7be5be79.pth) and the lpips v0.1 heads (alex.pth); "
                     "neither is on this machine and they cannot be downloaded here")


@dataclass
class MetricsOptions:
    """Options of ``sync4dgs metrics``.

    splits: which rendered splits to evaluate (those not rendered are skipped; at least one must exist).
    fps_repeats: timed render calls for the speed measurement (0 = skip it).
    regions: moving/static region metrics (needs the scene's frames for the temporal medians).
    cpu_threads: torch threads on the CPU (None/0 = the model's train.cpu_threads, else torch's default; see
        sync4dgs/eval/cpu_threads.py).
    """

    source_path: Path | None = None
    iteration: int | None = None
    splits: tuple[str, ...] = layout.SPLITS
    lpips_weights: Path | None = None
    use_flip: bool = True
    flip_max_frames: int = layout.DEFAULT_FLIP_MAX_FRAMES     # FLIP on at most this many frames per camera (0 = all)
    fps_warmup: int = 3
    fps_repeats: int = 10
    device: str = "auto"
    backend: str | None = None
    progress: bool = True
    regions: bool = True
    cpu_threads: int | None = None


def finite_json(obj: Any) -> Any:
    """Copy of ``obj`` with numpy scalars as Python numbers and every non-finite float replaced by None."""
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_strict_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, refusing NaN/inf (they are replaced by null first)."""
    text = json.dumps(finite_json(obj), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


# ---------------------------------------------------------------------------------------------------------------
def lpips_section(weights: Path | None) -> tuple[Any | None, dict[str, Any]]:
    """(LPIPS callable or None, the results.json "lpips" entry)."""
    if weights is None and os.environ.get(LPIPS_ENV):
        weights = Path(os.environ[LPIPS_ENV])
    if weights is None:
        return None, {"status": "unavailable", "reason": LPIPS_UNAVAILABLE}
    from sync4dgs.eval.lpips_alex import load_lpips_alex  # noqa: PLC0415

    net = load_lpips_alex(weights)
    return net, {"status": "computed", "weights": str(weights), "note": "plain-torch LPIPS-Alex v0.1; not "
                 "cross-checked against the lpips package on this machine"}


def offsets_section(opened: OpenedModel) -> dict[str, Any]:
    """Learned (and stage-1) time maps against the scene's gt_sync.json, when it exists."""
    scene = opened.scene
    gt_path = scene.gt_sync_path
    if not gt_path.is_file():
        return {"status": "no ground truth", "reason": f"{gt_path} not found (real captures have none)"}
    truth = load_time_maps(gt_path)
    fps = {c.name: c.fps for c in scene.cameras}
    tau = {c.name: c.tau_s() for c in scene.cameras}
    train_names = [c.name for c in scene.train_cameras]
    out: dict[str, Any] = {"status": "computed", "gt_file": str(gt_path),
                           "units": "error = estimate - truth; frames of each camera's own fps; ms; "
                                    "statistics exclude the reference camera",
                           "learned": offset_errors(opened.trained.time_maps, truth, fps, tau, train_names)}
    init = folder.read_initial_time_maps(opened.model_path)
    out["initial"] = offset_errors(init, truth, fps, tau, train_names) if init is not None else None
    s1 = folder.read_stage1_time_maps(opened.model_path)
    out["stage1"] = offset_errors(s1, truth, fps, tau) if s1 is not None else None
    if s1 is not None:
        out["stage1_file"] = str(folder.stage1_offsets_path(opened.model_path))
    return out


def model_section(opened: OpenedModel) -> dict[str, Any]:
    """Gaussian counts and sizes (MB = 2**20 bytes, as Gaussians4D.size_mb)."""
    m = opened.trained.model
    n_static, n_dynamic = int(m.n_static), int(m.n_dynamic)
    w = opened.weights_path
    return {"n_static": n_static, "n_dynamic": n_dynamic, "n_total": n_static + n_dynamic,
            "n_keyframes": int(m.num_keyframes),
            "size_mb": w.stat().st_size / 2 ** 20 if w.is_file() else None,
            "parameter_mb": m.num_parameters_bytes() / 2 ** 20,
            "units": "MB = 2**20 bytes; size_mb = file size of point_cloud/iteration_<n>/model.pt, "
                     "parameter_mb = parameters + buffers as stored"}


def training_section(model_path: Path) -> dict[str, Any] | None:
    return folder.read_stats(model_path)


def speed_section(opened: OpenedModel, options: MetricsOptions) -> dict[str, Any] | None:
    """Render FPS at the first test camera's resolution (first training camera if there is no test camera),
    at the middle of the reference camera's clip (the instant only matters through temporal opacity)."""
    if options.fps_repeats <= 0:
        return None
    scene = opened.scene
    cam = (split_cameras(scene, "test") or split_cameras(scene, "train"))[0]
    ref_name = opened.trained.time_maps.reference_camera
    ref = scene.camera(ref_name) if ref_name in scene.camera_names else cam
    t_mid = float(ref.tau_s()[ref.n_frames // 2])
    settings = settings_from_meta(opened.trained.meta or {}, scene, options.backend)
    return measure_render_fps(opened.trained.model, cam, t_mid, settings, opened.device,
                              options.fps_warmup, options.fps_repeats)


def read_render_info(split_folder: Path) -> dict[str, Any] | None:
    """A rendered split's render_info.json (written by ``sync4dgs render``), None when it has none."""
    info_path = split_folder / layout.RENDER_INFO_FILE
    if not info_path.is_file():
        return None
    try:
        return json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise DataFormatError(info_path, f"unreadable render info: {e}") from e


def test_clocks_section(opened: OpenedModel, iteration: int) -> dict[str, Any]:
    """Which clock each test camera was rendered at (from the test split's render_info.json): source
    ("reference", "test_time_maps", "initial_estimate", "test_time_fit", "identity"), offset_s, rate, the fit when
    one was made, and the offset error against the scene's gt_sync.json when it exists (frames of that camera)."""
    info = read_render_info(layout.split_dir(opened.model_path, "test", iteration))
    if info is None:
        return {}
    if "cameras" not in info:
        raise DataFormatError(layout.split_dir(opened.model_path, "test", iteration) / layout.RENDER_INFO_FILE,
                              "unreadable render info: no 'cameras'")
    cams = info["cameras"]
    truth = None
    if opened.scene.gt_sync_path.is_file():
        try:
            truth = rereference(load_time_maps(opened.scene.gt_sync_path), opened.trained.time_maps.reference_camera)
        except KeyError:
            truth = None
    out: dict[str, Any] = {}
    for name, entry in cams.items():
        row = {k: entry[k] for k in ("source", "offset_s", "rate") if k in entry}
        if "test_time_fit" in entry:
            row["test_time_fit"] = entry["test_time_fit"]
        if truth is not None and name in truth.cameras and "offset_s" in entry:
            fps = opened.scene.camera(name).fps
            row["error_frames"] = (float(entry["offset_s"]) - truth.cameras[name].offset_s) * fps
        out[name] = row
    return out


def compute_results(model_path: str | Path, options: MetricsOptions | None = None) -> dict[str, Any]:
    """Evaluate a rendered model and write ``M/results.json`` (+ ``M/per_view.json``); returns the results dict."""
    options = options or MetricsOptions()
    model_path = Path(model_path)
    opened = open_model(model_path, options.source_path, options.iteration, options.device)
    with torch_threads(eval_cpu_threads(opened.trained.meta, options.cpu_threads), opened.device):
        return _compute_results(opened, options)


def _compute_results(opened: OpenedModel, options: MetricsOptions) -> dict[str, Any]:
    model_path, it = opened.model_path, opened.iteration
    splits = [s for s in options.splits if (layout.renders_dir(model_path, s, it)).is_dir()]
    if not splits:
        raise DataFormatError(model_path, f"no renders for iteration {it} (looked for "
                                          f"{[str(layout.renders_dir(model_path, s, it)) for s in options.splits]}); "
                                          f"run `sync4dgs render --model_path {model_path}` first")
    lpips_net, lpips_entry = lpips_section(options.lpips_weights)
    if lpips_net is not None:
        lpips_net = lpips_net.to(opened.device)
    regions = RegionMasks(opened.scene) if options.regions else None
    images, per_view = {}, {}
    for s in splits:
        r = evaluate_split_images(layout.split_dir(model_path, s, it), lpips=lpips_net,
                                  use_flip=options.use_flip, device=opened.device, progress=options.progress,
                                  region_masks=regions, flip_max_frames=options.flip_max_frames)
        per_view[s] = r.pop("per_image")
        if "lpips_note" in r:
            lpips_entry.setdefault("skipped", {})[s] = r.pop("lpips_note")
        notes = {c: n for c, n in regions.notes.items() if c in r["per_camera"]} if regions is not None else {}
        if notes:
            r["region_notes"] = notes
        render_seconds = (read_render_info(layout.split_dir(model_path, s, it)) or {}).get("seconds")
        if render_seconds:
            r["render_seconds"] = render_seconds
        images[s] = r
    results = {
        "version": RESULTS_VERSION, "model_path": str(model_path), "scene": str(opened.scene.root), "iteration": it,
        "conventions": {**METRIC_CONVENTIONS, **REGION_CONVENTIONS, "psnr_cap_db": PSNR_CAP_DB}, "images": images,
        "lpips": lpips_entry, "offsets": offsets_section(opened), "model": model_section(opened),
        "training": training_section(model_path), "render_speed": speed_section(opened, options),
        "test_clocks": test_clocks_section(opened, it),
    }
    write_strict_json(model_path / layout.RESULTS_FILE, results)
    write_strict_json(model_path / PER_VIEW_FILE, {"iteration": it, "splits": per_view})
    log.info("wrote %s", model_path / layout.RESULTS_FILE)
    return finite_json(results)
