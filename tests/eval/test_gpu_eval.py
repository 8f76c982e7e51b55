"""GPU path of render/metrics (skipped on CPU machines): gsplat renders match the CPU reference; FPS is timed
with CUDA synchronisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sync4dgs.eval import layout
from sync4dgs.eval.render_views import read_png, render_model
from sync4dgs.eval.results import MetricsOptions, compute_results

from .conftest import ITERATION


@pytest.mark.gpu
def test_cuda_render_matches_cpu_and_speed(tiny, tmp_path):
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False)
    cpu = {p.name: read_png(p) for p in layout.renders_dir(tiny.model_path, "test", ITERATION).iterdir()}
    render_model(tiny.model_path, splits=("test",), device="cuda", progress=False, write_videos=False)
    info = json.loads((layout.split_dir(tiny.model_path, "test", ITERATION) / "render_info.json").read_text())
    assert info["backend_used"] == "gsplat"
    for name, ref in cpu.items():
        gpu = read_png(layout.renders_dir(tiny.model_path, "test", ITERATION) / name)
        mse = np.mean((gpu.astype(np.float64) - ref.astype(np.float64)) ** 2) / 255.0 ** 2
        assert 10 * np.log10(1.0 / max(mse, 1e-12)) > 35.0, name
    r = compute_results(tiny.model_path, MetricsOptions(device="cuda", fps_warmup=5, fps_repeats=20,
                                                        progress=False))
    sp = r["render_speed"]
    assert sp["backend"] == "gsplat" and sp["device"].startswith("cuda") and sp["fps"] > 0
