"""Reference backend: pure torch, any device and float dtype, differentiable by autograd.

Same maths as gsplat 1.5.3 ``rasterization`` (pinhole, classic/antialiased, "RGB"/"RGB+ED"): used for CPU
training/tests and as the ground truth the CUDA backend is checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sync4dgs.render.backends.torch_projection import project_gaussians
from sync4dgs.render.backends.torch_raster import RasterConfig, rasterize_tiles
from sync4dgs.render.conventions import camera_centers, sh_to_rgb
from sync4dgs.render.types import Gaussians, RenderCameras, RenderOutput


def render_torch(
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
    config: RasterConfig | None = None,
) -> RenderOutput:
    """Render with the pure-torch reference. Inputs are validated by :func:`sync4dgs.render.render`.

    backgrounds: [C, 3] or None. See :class:`RenderOutput` for the outputs; ``info`` follows gsplat's meta
    format (non-packed: means2d/radii [C, N, 2]; packed: [nnz, 2] with camera_ids/gaussian_ids [nnz]).
    """
    g = gaussians
    n_cams, n_gauss = cameras.n, g.n
    width, height = int(cameras.width), int(cameras.height)
    proj = project_gaussians(g.means, g.quats, g.scales, g.opacities, cameras.viewmats, cameras.Ks,
                             width, height, eps2d=eps2d, near=near, far=far, antialiased=antialiased)
    visible = (proj.radii > 0).all(dim=-1)  # [C, N]
    cam_ids, gauss_ids = torch.nonzero(visible, as_tuple=True)

    if packed:
        means2d_info = proj.means2d[cam_ids, gauss_ids]  # [nnz, 2]
        radii_info = proj.radii[cam_ids, gauss_ids]
        flat_idx = torch.arange(cam_ids.numel(), device=cam_ids.device)
    else:
        means2d_info = proj.means2d
        radii_info = proj.radii
        flat_idx = cam_ids * n_gauss + gauss_ids
    if means2d_info.requires_grad:
        means2d_info.retain_grad()

    depths = proj.depths[cam_ids, gauss_ids]
    conics = proj.conics[cam_ids, gauss_ids]
    opacities = proj.opacities[cam_ids, gauss_ids]
    if sh_degree is None:
        rgb = g.colors[gauss_ids]
    else:
        dirs = g.means[gauss_ids] - camera_centers(cameras.viewmats)[cam_ids]
        rgb = sh_to_rgb(sh_degree, dirs, g.colors[gauss_ids])
    features = torch.cat([rgb, depths[:, None]], dim=-1) if render_depth else rgb
    if backgrounds is not None and render_depth:
        backgrounds = torch.cat([backgrounds, torch.zeros_like(backgrounds[:, :1])], dim=-1)

    rendered, alpha = rasterize_tiles(
        means2d_info, flat_idx, cam_ids, proj.radii[cam_ids, gauss_ids], depths, conics, opacities,
        features, n_cams, width, height, backgrounds=backgrounds, absgrad=absgrad, config=config)

    if render_depth:
        image = rendered[..., :3]
        depth = rendered[..., 3:4] / alpha.clamp(min=1e-10)
    else:
        image, depth = rendered, None

    info = {
        "backend": "torch",
        "batch_ids": None,
        "camera_ids": cam_ids if packed else None,
        "gaussian_ids": gauss_ids if packed else None,
        "radii": radii_info,
        "means2d": means2d_info,
        "depths": depths if packed else proj.depths,
        "conics": conics if packed else proj.conics,
        "opacities": opacities if packed else proj.opacities,
        "width": width,
        "height": height,
        "tile_size": (config or RasterConfig()).resolved(g.means.device).tile_size,
        "n_batches": 1,
        "n_cameras": n_cams,
        "n_gaussians": n_gauss,
    }
    return RenderOutput(image=image, alpha=alpha, depth=depth, means2d=means2d_info, radii=radii_info,
                        info=info)
