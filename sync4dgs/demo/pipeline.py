"""The demo pipeline behind ``sync4dgs demo``: a small built-in unsynchronized scene, end to end.

Steps (each timed): synth (a scene with known per-camera offsets) -> stage 1 (align_scene) -> stage 2 (train with
learned time maps, initialised from stage 1) -> a "naive" stage 2 with every time map fixed at (0, 1) -> render the
test camera of both -> metrics of both. Prints the per-camera offsets (truth vs stage 1 vs stage 2, in frames and
ms), test PSNR/SSIM/FLIP of naive vs learned (full frame, and in the moving/static regions), and writes everything under ``--out``::

    OUT/scene/            the synthetic scene (scene.json, frames, points3d.ply, gt_sync.json)
    OUT/learned/          model trained with learned time maps (stage1/, point_cloud/, test/ours_N/, results.json)
    OUT/naive/            model trained with time maps fixed at (0, 1)
    OUT/offsets.png       offsets per camera: truth vs stage 1 vs stage 2, and their errors in frames
    OUT/montage.png       a few test frames: ground truth (moving-region outline) | learned | naive
    OUT/summary.json      the tables' numbers, step timings and settings;  OUT/summary.txt  the printed tables

The orchestration lives here (sync4dgs.demo may import the trainer; sync4dgs.eval may not); the arguments are
parsed in sync4dgs/cli/demo.py; formatting and the plot are in sync4dgs/eval/demo_report.py.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sync4dgs
from sync4dgs.errors import ConfigError

# --quick: the tiny preset and few iterations (CI); full: the demo preset and configs/demo.json as is.
QUICK_ITERATIONS = 40
QUICK_EVAL_FRAMES = 4          # --quick renders/evaluates this many test frames per run (full demo: all)
FPS_REPEATS = 3                # timed renders for the speed number (skipped in --quick: the CPU reference is slow)

# (module, attribute, what it is) the demo needs; checked before anything runs
REQUIRED = (
    ("sync4dgs.data.synth", "generate", "synthetic scene generator (sync4dgs synth)"),
    ("sync4dgs.sync.align", "align_scene", "stage-1 alignment (sync4dgs align)"),
    ("sync4dgs.sync.align", "save_alignment", "stage-1 output writer"),
    ("sync4dgs.train", "train", "stage-2 trainer (sync4dgs train)"),
    ("sync4dgs.render", "render", "renderer"),
    ("sync4dgs.model.io", "load_trained", "saved-model loader"),
)


def missing_components() -> list[str]:
    """Human-readable list of the pipeline parts that cannot be imported (empty when all are there)."""
    missing = []
    for module, attr, what in REQUIRED:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{what}: cannot import {module} ({e})")
            continue
        if not hasattr(mod, attr):
            missing.append(f"{what}: {module}.{attr} does not exist yet")
    return missing


def default_config_path() -> Path:
    """configs/demo.json next to the sync4dgs package (an editable install / checkout)."""
    return Path(sync4dgs.__file__).resolve().parents[1] / "configs" / "demo.json"


class StepTimer:
    """Wall time of each named step (seconds), printed as it finishes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - t0
        print(f"-- {name}: {self.seconds[name]:.1f} s", flush=True)


def _fresh(path: Path) -> Path:
    """Remove a previous demo output folder (the trainer would otherwise resume it)."""
    if path.exists():
        shutil.rmtree(path)
    return path


def _eval_run(model_path: Path, scene_dir: Path, device: str, quick: bool) -> dict[str, Any]:
    """Render the test camera(s) at their true times (gt_sync.json) and write results.json."""
    from sync4dgs.eval.render_views import render_model  # noqa: PLC0415
    from sync4dgs.eval.results import MetricsOptions, compute_results  # noqa: PLC0415

    render_model(model_path, scene_dir, splits=("test",), device=device, test_time_maps=scene_dir / "gt_sync.json",
                 max_frames=QUICK_EVAL_FRAMES if quick else None)
    return compute_results(model_path, MetricsOptions(source_path=scene_dir, splits=("test",), device=device,
                                                      fps_warmup=1, fps_repeats=0 if quick else FPS_REPEATS))


def _known(maps: Any) -> Any:
    """Time maps without the cameras marked "unaligned" (no estimate: shown as "-")."""
    return type(maps)(maps.reference_camera, {n: m for n, m in maps.cameras.items() if m.status != "unaligned"})


def _mae_text(summary: dict[str, Any]) -> str:
    """"MAE x frames (y ms) over n cameras[, k unaligned]" of an offset-error summary."""
    if not summary.get("n_cameras"):
        return "no camera compared"
    text = (f"MAE {summary['mae_frames']:.3f} frames ({summary['mae_ms']:.1f} ms), max {summary['max_frames']:.3f} "
            f"frames over {summary['n_cameras']} cameras")
    return text + (f", {summary['n_unaligned']} unaligned" if summary.get("n_unaligned") else "")


def _quality_row(name: str, maps: str, results: dict[str, Any]) -> dict[str, Any]:
    t = results["images"]["test"]
    return {"run": name, "time_maps": maps, "n_images": t["n_images"], **t["mean"], "regions": t.get("regions")}


def _montage(out: Path, learned_dir: Path, naive_dir: Path, results: dict[str, Any], scene: Any) -> Path | None:
    """OUT/montage.png: ground truth | learned | naive for a few test frames (sync4dgs/eval/montage.py)."""
    from sync4dgs.eval import layout  # noqa: PLC0415
    from sync4dgs.eval.montage import write_comparison_montage  # noqa: PLC0415
    from sync4dgs.eval.motion_regions import RegionMasks  # noqa: PLC0415

    it_l = results["learned"]["iteration"]
    it_n = results["naive"]["iteration"]
    return write_comparison_montage(out / "montage.png", layout.gt_dir(learned_dir, "test", it_l),
                                    {"learned": layout.renders_dir(learned_dir, "test", it_l),
                                     "naive": layout.renders_dir(naive_dir, "test", it_n)},
                                    regions=RegionMasks(scene))


def _baseline_in_parallel(device: str, cpu_threads: int) -> bool:
    """Train the naive baseline beside the learned model: CPU runs of one torch thread each on >= 2 cores."""
    return device == "cpu" and cpu_threads == 1 and (os.cpu_count() or 1) >= 2


def train_naive(scene_dir: Path, naive_dir: Path, cfg_path: Path, overrides: dict[str, str], progress: bool) -> None:
    """The naive baseline: the same config with every time map fixed at (0, 1) (a top-level function so that a
    spawned process can run it)."""
    from sync4dgs.data.scene import load_scene  # noqa: PLC0415
    from sync4dgs.timemap import TimeMaps  # noqa: PLC0415
    from sync4dgs.train import load_config, train  # noqa: PLC0415

    scene = load_scene(scene_dir)
    train(scene_dir, naive_dir, load_config(cfg_path, overrides), progress=progress,
          time_maps_override=TimeMaps.identity(scene.camera_names, scene.reference_camera))


def demo_config_path(config: Path | None) -> Path:
    """The stage-2 config the demo trains with: ``--config`` or configs/demo.json of the checkout. ConfigError
    (one line) when that file does not exist: a mistyped --config is not a missing part of the pipeline."""
    if config is not None:
        if config.is_dir():
            raise ConfigError(f"--config {config}: is a folder, expected a JSON config file")
        if not config.is_file():
            raise ConfigError(f"--config {config}: file not found")
        return config
    path = default_config_path()
    if not path.is_file():
        raise ConfigError(f"the demo's default config {path} was not found (sync4dgs installed without its "
                          f"configs/ folder?); pass --config FILE")
    return path


def run_demo(*, quick: bool = False, out: Path = Path("demo_output"), device: str = "auto", config: Path | None = None,
             iterations: int | None = None, seed: int = 0) -> int:
    """Run the demo (``sync4dgs demo``'s options, see sync4dgs/cli/demo.py); 0 on success, 2 when parts of the
    pipeline are missing (listed on stdout, nothing produced)."""
    cfg_path = demo_config_path(config)
    missing = missing_components()
    if missing:
        print("sync4dgs demo cannot run yet; missing pipeline parts:")
        for m in missing:
            print(f"  - {m}")
        print("No results were produced.")
        return 2

    from sync4dgs.data.scene import load_scene  # noqa: PLC0415
    from sync4dgs.data.synth import generate, make_config  # noqa: PLC0415
    from sync4dgs.eval.demo_report import (format_offset_table, format_quality_table,  # noqa: PLC0415
                                           format_region_table, offset_rows, plot_offsets)
    from sync4dgs.eval.layout import RESULTS_FILE  # noqa: PLC0415
    from sync4dgs.eval.results import write_strict_json  # noqa: PLC0415
    from sync4dgs.model.folder import read_stage1_time_maps, stage1_dir, stage1_offsets_path  # noqa: PLC0415
    from sync4dgs.sync.align import align_scene, save_alignment  # noqa: PLC0415
    from sync4dgs.timemap import load_time_maps  # noqa: PLC0415
    from sync4dgs.train import load_config, train  # noqa: PLC0415
    from sync4dgs.utils.device import resolve_device  # noqa: PLC0415

    device = str(resolve_device(device))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    preset = "tiny" if quick else "demo"
    # render.backend "auto": gsplat on CUDA, the torch reference on CPU (configs/demo.json says "torch")
    overrides = {"train.device": device, "render.backend": "auto", "align.device": device}
    iterations = iterations or (QUICK_ITERATIONS if quick else None)
    if iterations:
        overrides["train.iterations"] = str(iterations)
    if quick:   # let the time maps move within the few iterations of a smoke test
        overrides["time.warmup_iterations"] = str(max(1, (iterations or QUICK_ITERATIONS) // 4))
    timer = StepTimer()
    t_start = time.perf_counter()
    cfg = load_config(cfg_path, overrides)      # stage 1 runs with its align section, stage 2 with the rest
    print(f"sync4dgs demo: preset {preset}, device {device}, config {cfg_path}, output {out}")

    scene_dir, learned_dir, naive_dir = out / "scene", _fresh(out / "learned"), _fresh(out / "naive")
    with timer.step("synth: unsynchronized scene with known offsets"):
        generate(make_config(preset, layout="canonical", device=device, seed=seed), scene_dir, progress=True)
        scene = load_scene(scene_dir)
        truth = load_time_maps(scene.gt_sync_path)
    with timer.step("stage 1: align cameras (trajectories + epipolar consistency)"):
        result = align_scene(scene, cfg.align)
        save_alignment(result, stage1_dir(learned_dir))
        stage1 = read_stage1_time_maps(learned_dir)
    if _baseline_in_parallel(device, cfg.train.cpu_threads):
        # one core each: the naive baseline trains in a child process while the learned model trains here
        with timer.step("stage 2: learned + naive baseline, in parallel (one CPU core each)"):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                naive_job = pool.submit(train_naive, scene_dir, naive_dir, cfg_path, overrides, False)
                learned = train(scene_dir, learned_dir, cfg, offsets_path=stage1_offsets_path(learned_dir))
                naive_job.result()
    else:
        with timer.step("stage 2: train 4D Gaussians + time maps (learned)"):
            learned = train(scene_dir, learned_dir, cfg, offsets_path=stage1_offsets_path(learned_dir))
        with timer.step("stage 2 baseline: train with time maps fixed at (0, 1) (naive)"):
            train_naive(scene_dir, naive_dir, cfg_path, overrides, True)
    if _baseline_in_parallel(device, cfg.train.cpu_threads):
        with timer.step("render + metrics (test camera; learned and naive in parallel)"):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                naive_eval = pool.submit(_eval_run, naive_dir, scene_dir, device, quick)
                res_learned = _eval_run(learned_dir, scene_dir, device, quick)
                res_naive = naive_eval.result()
    else:
        with timer.step("render + metrics (test camera)"):
            res_learned = _eval_run(learned_dir, scene_dir, device, quick)
            res_naive = _eval_run(naive_dir, scene_dir, device, quick)

    rows = offset_rows(scene.camera_names, {c.name: c.fps for c in scene.cameras}, truth, _known(stage1),
                       _known(learned.time_maps))
    offsets_table = format_offset_table(rows)
    quality = [_quality_row("naive", "fixed (0, 1)", res_naive), _quality_row("learned", "stage 1 + 2", res_learned)]
    quality_table = format_quality_table(quality)
    region_table = format_region_table(quality)
    plot = plot_offsets(rows, out / "offsets.png", title=f"sync4dgs demo ({preset}): camera time offsets")
    montage = _montage(out, learned_dir, naive_dir, {"learned": res_learned, "naive": res_naive}, scene)
    total = time.perf_counter() - t_start
    off_l = (res_learned["offsets"].get("learned") or {}).get("summary", {})
    off_s1 = (res_learned["offsets"].get("stage1") or {}).get("summary", {})
    lines = [
        f"Per-camera offsets (reference {truth.reference_camera}; frames at each camera's fps, ms; "
        f"{scene.test_cameras} held out of training):",
        offsets_table,
        f"offset error vs truth: stage 1 {_mae_text(off_s1)}; stage 2 {_mae_text(off_l)}",
        "",
        f"Test views ({', '.join(scene.test_cameras)}), naive vs learned time maps:",
        quality_table,
        "",
        "Test views by region (moving = pixels off the camera's temporal median; *_true = the generator's object "
        "masks):",
        region_table,
        "",
        "Step times: " + ", ".join(f"{k.split(':')[0]} {v:.0f} s" for k, v in timer.seconds.items())
        + f"; total {total:.0f} s on {device}",
        f"Outputs: {out}/ (offsets plot {plot.name}"
        + (f", montage {montage.name}" if montage is not None else "")
        + ", renders under learned/test and naive/test, "
        "results.json in each model folder)",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    (out / "summary.txt").write_text(text + "\n")
    write_strict_json(out / "summary.json", {
        "preset": preset, "device": device, "config": str(cfg_path), "overrides": overrides,
        "offsets": [r.__dict__ for r in rows], "quality": quality, "step_seconds": timer.seconds,
        "total_seconds": total, "learned_results": str(learned_dir / RESULTS_FILE),
        "naive_results": str(naive_dir / RESULTS_FILE),
        "montage": str(montage) if montage is not None else None})
    return 0
