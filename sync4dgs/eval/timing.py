"""Render speed: frames per second of one trained model at one camera's resolution.

One timed call = evaluate the model at a time (``at_time``: keyframe interpolation, temporal opacity) + render
one image, exactly what producing a novel frame costs (Ex4DGS also times its Python-side interpolation).
On CUDA every call is bracketed by ``torch.cuda.synchronize()``; a few untimed warm-up calls come first (kernel
JIT/caches); the reported speed is 1 / median call time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from sync4dgs.data.scene import CameraSpec
from sync4dgs.eval.render_views import ViewRenderSettings, render_frame


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], device: torch.device, warmup: int = 3, repeats: int = 10) -> list[float]:
    """Wall times (s) of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls, synchronising CUDA."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(max(0, warmup)):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def measure_render_fps(model: Any, cam: CameraSpec, t_global_s: float, settings: ViewRenderSettings,
                       device: torch.device, warmup: int = 3, repeats: int = 10) -> dict[str, Any]:
    """Time ``render_frame`` of ``cam`` at ``t_global_s``; returns fps (1/median), ms median/min/max, settings.

    ``warmup`` >= 1 untimed calls come first (the first one also tells which backend rendered)."""
    used = render_frame(model, cam, t_global_s, settings, device)[1]
    times = time_calls(lambda: render_frame(model, cam, t_global_s, settings, device), device, warmup - 1, repeats)
    med = statistics.median(times)
    return {"fps": 1.0 / med, "ms_median": 1000 * med, "ms_min": 1000 * min(times), "ms_max": 1000 * max(times),
            "camera": cam.name, "width": cam.width, "height": cam.height, "t_global_s": float(t_global_s),
            "warmup": max(1, warmup), "repeats": repeats, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "backend": used, "includes": "model.at_time + render of one image (batch 1)"}
