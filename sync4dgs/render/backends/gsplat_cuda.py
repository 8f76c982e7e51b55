"""gsplat 1.5.3 CUDA backend: a thin, sync-free wrapper around ``gsplat.rasterization``.

gsplat is imported lazily (on the first render) so that CPU-only machines never touch its JIT loader.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sync4dgs.render.types import Gaussians, RenderCameras, RenderOutput


def rasterization_kwargs(
    gaussians: Gaussians,
    cameras: RenderCameras,
    *,
    sh_degree: int | None,
    backgrounds: Tensor | None,
    near: float,
    far: float,
    antialiased: bool,
    eps2d: float,
    absgrad: bool,
    packed: bool,
    render_depth: bool,
) -> dict[str, Any]:
    """Keyword arguments of ``gsplat.rasterization`` (1.5.3) for one render call (no tensor work)."""
    g = gaussians
    return dict(
        means=g.means,
        quats=g.quats,
        scales=g.scales,
        opacities=g.opacities,
        colors=g.colors,
        viewmats=cameras.viewmats,
        Ks=cameras.Ks,
        width=int(cameras.width),
        height=int(cameras.height),
        near_plane=near,
        far_plane=far,
        eps2d=eps2d,
        sh_degree=sh_degree,
        packed=packed,
        backgrounds=None,  # composited in render_gsplat: gsplat 1.5.3 packed mode rejects [C, 3] with RGB+ED
        render_mode="RGB+ED" if render_depth else "RGB",
        absgrad=absgrad,
        rasterize_mode="antialiased" if antialiased else "classic",
    )


def render_gsplat(gaussians: Gaussians, cameras: RenderCameras, **options: Any) -> RenderOutput:
    """Render with ``gsplat.rasterization`` (float32 CUDA tensors; validated by :func:`render`).

    options: the keyword arguments of :func:`rasterization_kwargs` (backgrounds [C, 3] or None, ...).
    ``info`` is gsplat's meta dict (plus "backend" and "n_gaussians"); ``info["means2d"]`` retains its
    gradient (and gets ``.absgrad`` when ``absgrad``) after backward.
    """
    from gsplat import rasterization  # lazy: needs CUDA + the compiled extension

    with torch.cuda.device(gaussians.means.device):  # gsplat launches on the current device
        colors_out, alphas, meta = rasterization(**rasterization_kwargs(gaussians, cameras, **options))
    means2d = meta["means2d"]
    if means2d.requires_grad:
        means2d.retain_grad()
    meta["backend"] = "gsplat"
    meta["n_gaussians"] = gaussians.n
    if options["render_depth"]:
        image, depth = colors_out[..., :3], colors_out[..., 3:4]
    else:
        image, depth = colors_out, None
    bg = options.get("backgrounds")
    if bg is not None:  # same maths as gsplat's kernel: pixel = sum_i w_i c_i + T_final * background
        image = image + (1.0 - alphas) * bg[:, None, None, :]
    return RenderOutput(image=image, alpha=alphas, depth=depth, means2d=means2d, radii=meta["radii"],
                        info=meta)
