#!/usr/bin/env python3
"""Where does a training iteration's time go? torch.profiler over N iterations of the real trainer, by category.

    python benchmarks/profile_train.py --scene SCENE --out prof_out                       # GPU defaults
    python benchmarks/profile_train.py --scene SCENE --out o --config configs/synth_gpu.json --warmup 300 --iters 30
    python benchmarks/profile_train.py --scene tiny --out o --device cpu --warmup 2 --timed 3 --iters 2 \\
        --set render.backend=torch --set model.sh_degree=0

Builds a session (sync4dgs.train.setup.build_session, stage 1 skipped unless --align), runs ``--warmup``
iterations, times ``--timed`` iterations without the profiler (it/s = the honest speed), then profiles
``--iters`` iterations (CPU + CUDA activities). Phases are labelled FROM OUTSIDE the trainer with
``torch.profiler.record_function`` wrappers around the session's objects (frame bank, sampler, model.at_time,
render, losses, LR schedule, every callback hook): the trainer's code is not modified. Backward ops are
attributed to the phase whose forward op created them (autograd sequence numbers); optimiser steps are
torch's own "Optimizer.step#..." ranges.

Categories: data, time maps, at_time, render (gsplat / reference rasterizer), ssim, l1+other losses, backward of
each, optimizer, lr schedule, densification, time-map callback, logging/guard/checkpoint, other. For each:
host (CPU) ms per iteration and device (kernel) ms per iteration.

Writes OUT/profile_train.json, OUT/profile_train.md, OUT/trace.json.gz (chrome://tracing or Perfetto) and
prints the table last.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import logging
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from sync4dgs.data.scene import load_scene  # noqa: E402
from sync4dgs.train import load_config  # noqa: E402
from sync4dgs.utils.atomic import atomic_path, write_json  # noqa: E402

log = logging.getLogger("profile_train")

P = "s4d/"                     # prefix of our labels
ITERATION = P + "iteration"
CATEGORY_OF_LABEL = {
    "data": "data (frames, sampling)",
    "time": "time maps (t_global)",
    "at_time": "at_time (keyframes)",
    "render": "render (rasterization)",
    "ssim": "ssim",
    "l1": "l1 + other losses",
    "loss": "l1 + other losses",
    "backward": "backward (engine)",
    "schedule": "lr schedule",
    "optim": "optimizer step + zero_grad",
    "densify": "densification",
    "timectl": "time-map callback",
    "callback": "logging / guard / checkpoint",
    "iteration": "other (trainer)",
}
OPTIMIZER = "optimizer step + zero_grad"
DENSIFY_CALLBACKS = {"static_densify", "dynamic_densify", "convert"}
HOOKS = ("on_step_start", "pre_backward", "post_backward", "after_step")


# ----------------------------------------------------------------------------------------- instrumentation
class Instrumentation:
    """record_function wrappers installed on objects / modules; ``remove()`` restores the originals."""

    def __init__(self):
        self._undo: list = []

    def wrap(self, obj: Any, attr: str, label: str) -> None:
        had_own = isinstance(obj, type) or attr in getattr(obj, "__dict__", {})
        orig = getattr(obj, attr)

        @functools.wraps(orig)
        def labelled(*args, **kwargs):
            with record_function(P + label):
                return orig(*args, **kwargs)

        setattr(obj, attr, labelled)
        self._undo.append((obj, attr, orig, had_own))

    def remove(self) -> None:
        for obj, attr, orig, had_own in reversed(self._undo):
            if had_own or not hasattr(type(obj), attr):
                setattr(obj, attr, orig)
            else:
                delattr(obj, attr)
        self._undo.clear()


def instrument(session, trainer) -> Instrumentation:
    """Label the phases of ``trainer.step`` without touching the trainer's code."""
    import sync4dgs.train.losses as losses_mod  # noqa: PLC0415
    import sync4dgs.train.trainer as trainer_mod  # noqa: PLC0415

    ins = Instrumentation()
    ins.wrap(trainer, "step", "iteration")
    ins.wrap(session.frames, "get", "data")
    ins.wrap(session.sampler, "next", "data")
    ins.wrap(session.background, "next", "data")
    ins.wrap(session.time, "t_global_s", "time")
    ins.wrap(session.model, "at_time", "at_time")
    ins.wrap(session.schedule, "apply", "schedule")
    ins.wrap(trainer_mod, "render", "render")
    if hasattr(trainer_mod, "step_all"):          # batched optimiser step (sync4dgs.train.optim.step_all)
        ins.wrap(trainer_mod, "step_all", "optim")
    ins.wrap(session, "objective", "loss")
    ins.wrap(losses_mod, "ssim", "ssim")
    ins.wrap(losses_mod, "l1", "l1")
    ins.wrap(torch.Tensor, "backward", "backward")
    for cb in session.all_callbacks:
        kind = "timectl" if cb is session.time else ("densify" if cb.name in DENSIFY_CALLBACKS else "callback")
        for hook in HOOKS:
            ins.wrap(cb, hook, f"{kind}/{cb.name}.{hook}")
    return ins


# ----------------------------------------------------------------------------------------------- analysis
def _label_category(name: str) -> str | None:
    if name.startswith(P):
        return CATEGORY_OF_LABEL.get(name[len(P):].split("/")[0], "other (trainer)")
    if name.startswith("Optimizer.step#") or name.startswith("Optimizer.zero_grad#"):
        return OPTIMIZER
    return None


def _innermost_category(ev) -> str | None:
    e = ev
    while e is not None:
        cat = _label_category(e.name)
        if cat is not None:
            return cat
        e = e.cpu_parent
    return None


def _kernel_us(ev) -> float:
    return float(sum(k.duration for k in getattr(ev, "kernels", []) or []))


def summarize(events, n_iters: int) -> dict[str, dict[str, float]]:
    """{category: {"cpu_ms": per iteration, "device_ms": per iteration}} from profiler FunctionEvents.

    CPU time = self CPU time of every op inside the category's innermost label (a partition of the labelled
    host time). Device time = kernels launched by those ops. Backward ops (autograd engine, often on another
    thread) go to "backward: <category of the forward op>" via their autograd sequence number.
    """
    fwd_category: dict[int, str] = {}
    for ev in events:
        seq = getattr(ev, "sequence_nr", -1)
        if seq is not None and seq >= 0 and "Backward" not in ev.name and "evaluate_function" not in ev.name:
            cat = _innermost_category(ev)
            if cat is not None and cat != CATEGORY_OF_LABEL["backward"]:
                fwd_category.setdefault(seq, cat)
    cpu: dict[str, float] = defaultdict(float)
    dev: dict[str, float] = defaultdict(float)
    for ev in events:
        cat = _backward_category(ev, fwd_category)
        if cat is None:
            cat = _innermost_category(ev)
        if cat is None:
            cat = "unlabelled"
        cpu[cat] += float(ev.self_cpu_time_total)
        dev[cat] += _kernel_us(ev)
    cats = sorted(set(cpu) | set(dev), key=lambda c: -(dev.get(c, 0.0) + 1e-3 * cpu.get(c, 0.0)))
    return {c: {"cpu_ms": cpu.get(c, 0.0) / 1000.0 / n_iters, "device_ms": dev.get(c, 0.0) / 1000.0 / n_iters}
            for c in cats}


def _backward_category(ev, fwd_category: dict[int, str]) -> str | None:
    """'backward: X' when ``ev`` runs inside an autograd node whose forward op was in category X."""
    e = ev
    while e is not None:
        if "Backward" in e.name or e.name.startswith("autograd::engine::evaluate_function"):
            seq = getattr(e, "sequence_nr", -1)
            if seq is not None and seq >= 0 and seq in fwd_category:
                return "backward: " + fwd_category[seq]
            if e.name.startswith("autograd::engine::evaluate_function"):
                name = e.name.split(":")[-1].strip()
                return "backward: accumulate grad" if "AccumulateGrad" in name else "backward: unattributed"
        e = e.cpu_parent
    return None


def markdown(report: dict) -> str:
    rows = ["| category | device ms/it | host ms/it |", "|---|---|---|"]
    for cat, v in report["categories"].items():
        rows.append(f"| {cat} | {v['device_ms']:.3f} | {v['cpu_ms']:.3f} |")
    dev_total = sum(v["device_ms"] for v in report["categories"].values())
    rows.append(f"| **sum** | {dev_total:.3f} | {sum(v['cpu_ms'] for v in report['categories'].values()):.3f} |")
    head = (f"{report['scene']} — {report['device_name']}, {report['n_gaussians']} Gaussians "
            f"({report['n_dynamic']} dynamic), {report['image_size']} px; unprofiled: "
            f"{report['timed_ms_per_it']:.2f} ms/it = {report['timed_it_per_s']:.1f} it/s over {report['timed']} its; "
            f"profiled {report['iters']} its (steps {report['profiled_steps'][0]}-{report['profiled_steps'][1]})")
    return "\n".join([head, "", *rows]) + "\n"


# ----------------------------------------------------------------------------------------------- driver
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", type=Path, required=True, help="canonical scene folder (scene.json)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--config", type=Path, default=None, help="experiment config JSON (default: built-in)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeat)")
    ap.add_argument("--device", type=str, default="auto")
    ap.add_argument("--align", action="store_true", help="run stage 1 first (default: scene's maps / identity)")
    ap.add_argument("--offsets", type=Path, default=None, help="initial time maps JSON (e.g. stage1 offsets.json)")
    ap.add_argument("--warmup", type=int, default=200, help="iterations before any timing")
    ap.add_argument("--timed", type=int, default=100, help="iterations timed without the profiler")
    ap.add_argument("--iters", type=int, default=20, help="iterations under the profiler")
    ap.add_argument("--no-trace", action="store_true", help="do not write the chrome trace")
    args = ap.parse_args(argv)
    if min(args.warmup, args.timed) < 0 or args.iters < 1:
        ap.error("--warmup/--timed must be >= 0 and --iters >= 1")
    overrides = {}
    for item in args.set:
        if "=" not in item:
            ap.error(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v.strip()
    args.overrides = overrides
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from sync4dgs.train.setup import build_session  # noqa: PLC0415
    from sync4dgs.train.trainer import Trainer  # noqa: PLC0415

    total = args.warmup + args.timed + args.iters
    overrides = {"log.progress": "false", "log.tensorboard": "false", "train.checkpoint_every": "0",
                 **args.overrides, "train.iterations": str(total), "train.device": args.device}
    cfg = load_config(args.config, overrides)
    scene = load_scene(args.scene)
    args.out.mkdir(parents=True, exist_ok=True)
    session = build_session(scene, args.out / "model", cfg, offsets_path=args.offsets,
                            no_align=not args.align and args.offsets is None, progress=False)
    device = session.device
    trainer = Trainer(session)
    for cb in session.all_callbacks:
        cb.on_train_start(session.state)
    step = session.state.step
    log.info("warm-up: %d iterations", args.warmup)
    for _ in range(args.warmup):
        step += 1
        trainer.step(step)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.timed):
        step += 1
        trainer.step(step)
    _sync(device)
    timed_s = time.perf_counter() - t0
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    ins = instrument(session, trainer)
    first = step + 1
    try:
        with profile(activities=activities, record_shapes=False, with_stack=False) as prof:
            for _ in range(args.iters):
                step += 1
                trainer.step(step)
            _sync(device)
    finally:
        ins.remove()
    for cb in session.all_callbacks:
        cb.on_train_end(session.state)
    categories = summarize(prof.events(), args.iters)
    model = session.model
    cam = session.cameras[0]
    report = {"scene": str(args.scene), "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "n_gaussians": model.n_static + model.n_dynamic,
              "n_dynamic": model.n_dynamic, "num_keyframes": model.num_keyframes,
              "image_size": f"{cam.width}x{cam.height}", "warmup": args.warmup, "timed": args.timed,
              "timed_ms_per_it": 1000.0 * timed_s / max(args.timed, 1) if args.timed else float("nan"),
              "timed_it_per_s": args.timed / timed_s if args.timed and timed_s > 0 else float("nan"),
              "iters": args.iters, "profiled_steps": [first, step], "categories": categories,
              "overrides": overrides}
    if not args.no_trace:
        raw = args.out / "trace.json"
        prof.export_chrome_trace(str(raw))
        with raw.open("rb") as src, atomic_path(args.out / "trace.json.gz") as tmp, gzip.open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        raw.unlink()
        report["trace"] = str(args.out / "trace.json.gz")
    write_json(args.out / "profile_train.json", report)
    table = markdown(report)
    with atomic_path(args.out / "profile_train.md") as tmp:
        tmp.write_text(table)
    print(prof.key_averages().table(sort_by="self_cuda_time_total" if device.type == "cuda"
                                    else "self_cpu_time_total", row_limit=25))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
