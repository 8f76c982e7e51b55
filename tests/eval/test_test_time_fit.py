"""Test-time fit of a held-out camera's offset: a camera whose frames are the model's own renders at a known
offset is found again from a start 0.8 frame away; the rest of the evaluation is unchanged."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from sync4dgs.eval import layout
from sync4dgs.eval.frame_times import EvalTimeMap
from sync4dgs.eval.render_views import (differentiable_renderer, render_frame, render_model, settings_from_meta,
                                        to_uint8)
from sync4dgs.eval.test_time_fit import FitSettings, fit_test_offset
from sync4dgs.data.frames import open_frames
from sync4dgs.model.io import save_model
from sync4dgs.timemap import TimeMap

from .conftest import ITERATION, learned_maps

TRUE_CAM02 = -0.1            # seconds; cam02 runs at 8 fps, so the identity start is 0.8 frame off


def _held_out_cam02(tiny):
    """cam02 held out, its frames = the model's renders at TRUE_CAM02, and no usable estimate in the model."""
    scene = tiny.scene
    scene.test_cameras = ["cam00", "cam02"]
    scene.save()
    meta = {"source_path": str(scene.root), "config": {"train": {"background": [0.2, 0.3, 0.4]}}}
    maps = learned_maps()
    maps.cameras["cam02"] = TimeMap(0.0, 1.0, 0.0, "unaligned")
    save_model(tiny.model_path / "point_cloud" / f"iteration_{ITERATION}" / "model.pt", tiny.model, maps, meta)
    settings = settings_from_meta(meta, scene, "torch")
    cam = scene.camera("cam02")
    for i, tau in enumerate(cam.tau_s()):
        img, _ = render_frame(tiny.model, cam, TRUE_CAM02 + float(tau), settings, torch.device("cpu"))
        cv2.imwrite(str(scene.root / "images" / "cam02" / f"{i:05d}.png"), cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2BGR))
    return scene, settings, cam


def test_fit_recovers_a_known_offset(tiny):
    scene, settings, cam = _held_out_cam02(tiny)
    fit = fit_test_offset(tiny.model, cam, open_frames(scene, cam), EvalTimeMap("cam02", 0.0, 1.0, "identity"),
                          differentiable_renderer(settings, torch.device("cpu")), torch.device("cpu"),
                          FitSettings(n_frames=4, iterations=30))
    assert abs(fit.offset_s - TRUE_CAM02) * cam.fps < 0.1, fit
    assert fit.loss_final < 0.5 * fit.loss_initial
    assert all(not p.requires_grad or p.grad is None for p in tiny.model.parameters())   # the model is untouched


def test_render_with_fit_records_it_and_renders_at_the_fitted_time(tiny):
    scene, _, cam = _held_out_cam02(tiny)
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False,
                 fit_test_times=FitSettings(n_frames=4, iterations=30))
    info = json.loads((layout.split_dir(tiny.model_path, "test", ITERATION) / layout.RENDER_INFO_FILE).read_text())
    c2 = info["cameras"]["cam02"]
    assert c2["source"] == "test_time_fit" and c2["test_time_fit"]["initial_source"] == "identity"
    assert abs(c2["offset_s"] - TRUE_CAM02) * cam.fps < 0.1
    assert c2["t_global_s"] == pytest.approx(list(c2["offset_s"] + cam.tau_s()))
    assert info["cameras"]["cam00"]["source"] == "reference" and "test_time_fit" not in info["cameras"]["cam00"]
    # the fitted renders match the frames (they were made at the true time): near-lossless
    rdir, gdir = layout.renders_dir(tiny.model_path, "test", ITERATION), layout.gt_dir(tiny.model_path, "test", ITERATION)
    diff = [np.abs(cv2.imread(str(rdir / f.name)).astype(int) - cv2.imread(str(f)).astype(int)).mean()
            for f in sorted(gdir.glob("cam02_*.png"))]
    assert max(diff) < 2.0, diff


def test_metrics_report_the_clock_each_test_view_was_scored_at(tiny):
    from sync4dgs.eval.results import MetricsOptions, compute_results

    _, _, cam = _held_out_cam02(tiny)
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False,
                 test_time_maps=None, fit_test_times=FitSettings(n_frames=4, iterations=30))
    r = compute_results(tiny.model_path, MetricsOptions(device="cpu", fps_repeats=0, use_flip=False,
                                                        progress=False, splits=("test",)))
    clocks = r["test_clocks"]
    assert clocks["cam00"]["source"] == "reference" and clocks["cam00"]["error_frames"] == 0.0
    assert clocks["cam02"]["source"] == "test_time_fit" and "test_time_fit" in clocks["cam02"]
    assert abs(clocks["cam02"]["error_frames"]) < 0.1        # gt_sync.json says -0.1 s, the frames were made there
