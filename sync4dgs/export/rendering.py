"""Render one view of a 4D model at one global time (shared by free-viewpoint video and the viewer).

The model is anything with the Gaussians4D contract: ``at_time(t_global_s, sh_degree) -> Gaussians`` (static
Gaussians first, then dynamic), ``n_static``, ``n_dynamic``. Rendering goes through ``sync4dgs.render.render``
(gsplat on CUDA, the reference torch rasteriser on CPU) with the model's own settings
(:class:`sync4dgs.eval.render_views.ViewRenderSettings`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sync4dgs.eval.render_views import ViewRenderSettings, inference_view_of
from sync4dgs.render.types import Gaussians, RenderCameras


def sh_degree_of(g: Gaussians) -> int | None:
    """SH degree of the colours of ``g`` ([N, B, 3] -> sqrt(B) - 1), None for plain RGB [N, 3]."""
    if g.colors.ndim != 3:
        return None
    return int(round(g.colors.shape[1] ** 0.5)) - 1


def select_parts(g: Gaussians, n_static: int, static: bool = True, dynamic: bool = True) -> Gaussians:
    """Keep the static part (rows [0, n_static)) and/or the dynamic part (rows [n_static, N)) of ``g``."""
    if static and dynamic:
        return g
    sl = slice(0, n_static) if static else slice(n_static, g.n) if dynamic else slice(0, 0)
    return Gaussians(g.means[sl], g.quats[sl], g.scales[sl], g.opacities[sl], g.colors[sl])


@torch.no_grad()
def gaussians_at(model: Any, t_global_s: float, sh_degree: int | None = None, *, static: bool = True,
                 dynamic: bool = True) -> Gaussians:
    """The model's Gaussians at global time ``t_global_s`` (seconds), optionally only its static/dynamic part.

    Uses the model's inference view when it has one (same values as ``at_time``; the returned tensors are
    reused by the next call for the same model, so render them before asking for another time)."""
    view = inference_view_of(model)
    with torch.inference_mode():
        g = (view if view is not None else model).at_time(float(t_global_s), sh_degree=sh_degree)
    return select_parts(g, int(model.n_static), static, dynamic)


@torch.no_grad()
def render_gaussians(g: Gaussians, viewmat: np.ndarray, K: np.ndarray, width: int, height: int,
                     settings: ViewRenderSettings, device: torch.device) -> torch.Tensor:
    """Render ``g`` from one camera (viewmat [4, 4] world-to-camera OpenCV, K [3, 3] pixels).

    Returns [height, width, 3] float32 in [0, 1] on ``device`` (the background when ``g`` is empty).
    """
    from sync4dgs.render import render  # noqa: PLC0415  (backends load only when rendering)

    bg = torch.tensor(settings.background, dtype=torch.float32, device=device)
    if g.n == 0:
        return bg.expand(int(height), int(width), 3).clone()
    cams = RenderCameras(viewmats=torch.as_tensor(np.asarray(viewmat), dtype=torch.float32, device=device)[None],
                         Ks=torch.as_tensor(np.asarray(K), dtype=torch.float32, device=device)[None],
                         width=int(width), height=int(height))
    sh = settings.sh_degree if settings.sh_degree is not None else sh_degree_of(g)
    if sh is not None and g.colors.ndim == 3:
        sh = min(sh, sh_degree_of(g))
    out = render(g, cams, backend=settings.backend, sh_degree=sh, background=bg, near=settings.near,
                 far=settings.far, antialiased=settings.antialiased)
    return out.image[0].clamp(0.0, 1.0)


def render_view(model: Any, t_global_s: float, viewmat: np.ndarray, K: np.ndarray, width: int, height: int,
                settings: ViewRenderSettings, device: torch.device, *, static: bool = True,
                dynamic: bool = True) -> torch.Tensor:
    """Render ``model`` at ``t_global_s`` (seconds) from one camera -> [height, width, 3] float in [0, 1]."""
    g = gaussians_at(model, t_global_s, settings.sh_degree, static=static, dynamic=dynamic)
    return render_gaussians(g, viewmat, K, width, height, settings, device)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 numpy [H, W, 3] (rounded)."""
    return (img.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
