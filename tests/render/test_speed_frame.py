"""Eval's cached frame renderer: same image as rendering model.at_time directly, camera tensors reused, and
parameter changes show up in the next frame (the inference cache is not stale)."""

from __future__ import annotations

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.eval.render_views import FrameRenderer, ViewRenderSettings, frame_renderer, render_frame
from sync4dgs.model import Gaussians4D, ModelConfig
from sync4dgs.render import render
from sync4dgs.render.conventions import look_at_viewmat
from sync4dgs.render.types import RenderCameras

W, H = 20, 14


def _model() -> Gaussians4D:
    g = torch.Generator().manual_seed(0)
    n, k = 12, 4

    def common():
        return {"scales": torch.full((n, 3), -2.0), "opacities": torch.randn(n, generator=g),
                "sh0": torch.randn(n, 1, 3, generator=g), "shN": 0.1 * torch.randn(n, 3, 3, generator=g)}

    static = {"means": 0.5 * torch.randn(n, 3, generator=g), "quats": torch.randn(n, 4, generator=g), **common()}
    dynamic = {"key_means": 0.5 * torch.randn(n, k, 3, generator=g), "key_quats": torch.randn(n, k, 4, generator=g),
               "t_center": torch.tensor([[0.2, 0.6]]).repeat(n, 1), "t_logwidth": torch.full((n, 2), -1.0),
               **common()}
    return Gaussians4D(ModelConfig(sh_degree=1), static, dynamic, 0.0, 0.3)


def _camera() -> CameraSpec:
    vm = look_at_viewmat(torch.tensor([0.0, -3.0, 0.2], dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    K = np.array([[25.0, 0, W / 2], [0, 25.0, H / 2], [0, 0, 1.0]])
    return CameraSpec(name="c", width=W, height=H, K=K, R=vm[:3, :3].numpy(), t=vm[:3, 3].numpy(), fps=10.0,
                      n_frames=1, frames=FrameSource("images", "f", "{:05d}.png"))


def _direct(model, cam, t, settings) -> torch.Tensor:
    rc = RenderCameras(torch.tensor(cam.viewmat, dtype=torch.float32)[None],
                       torch.tensor(cam.K, dtype=torch.float32)[None], W, H)
    with torch.no_grad():
        out = render(model.at_time(t), rc, backend="torch", sh_degree=1, background=torch.tensor(settings.background),
                     near=settings.near, far=settings.far, render_depth=False)
    return out.image[0].clamp(0, 1)


def test_cached_renderer_matches_direct_render_and_follows_changes():
    model, cam = _model(), _camera()
    settings = ViewRenderSettings(backend="torch", background=(0.2, 0.1, 0.0), near=0.1, far=50.0)
    for t in (0.1, 0.45):
        img, backend = render_frame(model, cam, t, settings, torch.device("cpu"))
        assert backend == "torch"
        torch.testing.assert_close(img, _direct(model, cam, t, settings), atol=1e-5, rtol=0)
    r = frame_renderer(model, settings, torch.device("cpu"))
    assert isinstance(r, FrameRenderer) and r.cameras(cam, torch.float32) is r.cameras(cam, torch.float32)
    with torch.no_grad():
        model.static["sh0"].add_(0.5)
        model.dynamic["key_means"].mul_(0.5)
    img, _ = render_frame(model, cam, 0.45, settings, torch.device("cpu"))
    torch.testing.assert_close(img, _direct(model, cam, 0.45, settings), atol=1e-5, rtol=0)
    assert frame_renderer(model, settings, torch.device("cpu")) is r
