"""CUDA rendering of the full-resolution N3V preset matches the CPU renderer (run on the GPU machine)."""

import numpy as np
import pytest

from sync4dgs.data.frames import open_frames
from sync4dgs.data.scene import load_scene
from sync4dgs.data.synth import generate, load_synth, make_config, render_view
from sync4dgs.data.synth.outputs import to_uint8


@pytest.mark.gpu
def test_cuda_n3v_subset_matches_cpu(tmp_path):
    cfg = make_config("n3v", n_cams=3, n_frames=12, layout="canonical", device="cuda", n_points=2000)
    root = generate(cfg, tmp_path / "n3v_cuda", progress=False)
    scene, plan = load_scene(root), load_synth(root)
    assert [(c.width, c.height, c.n_frames) for c in scene.cameras] == [(1352, 1014, 12)] * 3
    cam, clk = plan.cameras[1], plan.clocks[1]
    i = 7
    got = open_frames(scene, scene.camera(cam.name))[i].astype(np.float64)
    t = clk.offset_s + i / clk.fps
    on_cuda = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, 1352, 1014, t, "cuda", cfg.supersample))
    on_cpu = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, 1352, 1014, t, "cpu", cfg.supersample))
    assert np.abs(got - on_cuda).max() <= 1
    # Different float maths on the two devices: only rare pixels (checker cell edges) may differ.
    mse = np.mean((got - on_cpu) ** 2)
    assert 10 * np.log10(255.0**2 / max(mse, 1e-12)) > 40.0
