"""Backend-agreement helpers: random test scenes and difference statistics (CPU-testable, device-agnostic).

Used by tests/render/test_gsplat_parity.py, benchmarks/render_parity.py and benchmarks/render_bench.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sync4dgs.render.api import render
from sync4dgs.render.conventions import fov_to_focal, look_at_viewmat, num_sh_bases, pinhole_K
from sync4dgs.render.types import Gaussians, RenderCameras


@dataclass
class RandomSceneConfig:
    """A random cloud of Gaussians inside a ball, seen by cameras on a ring around it.

    n_gaussians: N. width/height: image size (px). n_cameras: C on a ring of radius ``cam_distance``
    (scene units) looking at the origin, horizontal field of view ``fov_deg``. Gaussians fill a ball of
    radius ``cloud_radius``; their mean screen-space sigma is about ``footprint_px`` pixels (log-normal
    spread, anisotropic). sh_degree: None -> RGB colours [N, 3] in [0, 1]; else SH [N, (d+1)^2, 3].
    """

    n_gaussians: int = 1000
    width: int = 128
    height: int = 96
    n_cameras: int = 1
    sh_degree: int | None = 3
    footprint_px: float = 3.0
    fov_deg: float = 60.0
    cam_distance: float = 4.0
    cloud_radius: float = 1.0
    opacity_range: tuple[float, float] = (0.05, 0.99)
    seed: int = 0


def random_scene(cfg: RandomSceneConfig, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, requires_grad: bool = False
                 ) -> tuple[Gaussians, RenderCameras]:
    """Build the scene of ``cfg`` deterministically (CPU generator, then moved to ``device``)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    n = cfg.n_gaussians
    f64 = torch.float64

    direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=f64), dim=-1)
    radius = cfg.cloud_radius * torch.rand(n, 1, generator=gen, dtype=f64) ** (1.0 / 3.0)
    means = direction * radius
    focal = fov_to_focal(math.radians(cfg.fov_deg), cfg.width)
    world_per_px = cfg.cam_distance / focal
    base = cfg.footprint_px * world_per_px
    scales = base * torch.exp(0.4 * torch.randn(n, 1, generator=gen, dtype=f64)
                              + 0.3 * torch.randn(n, 3, generator=gen, dtype=f64))
    quats = torch.randn(n, 4, generator=gen, dtype=f64)
    lo, hi = cfg.opacity_range
    opacities = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=f64)
    if cfg.sh_degree is None:
        colors = torch.rand(n, 3, generator=gen, dtype=f64)
    else:
        nb = num_sh_bases(cfg.sh_degree)
        colors = 0.15 * torch.randn(n, nb, 3, generator=gen, dtype=f64)
        colors[:, 0] = 0.8 * torch.randn(n, 3, generator=gen, dtype=f64)

    viewmats, ks = [], []
    for i in range(cfg.n_cameras):
        ang = 2.0 * math.pi * i / max(cfg.n_cameras, 1) + 0.3
        eye = torch.tensor([cfg.cam_distance * math.cos(ang), cfg.cam_distance * math.sin(ang),
                            0.4 * math.sin(1.7 * i + 0.5)], dtype=f64)
        viewmats.append(look_at_viewmat(eye, torch.zeros(3, dtype=f64)))
        jitter = 1.0 + 0.05 * math.sin(3.1 * i)
        ks.append(pinhole_K(focal * jitter, focal * jitter, 0.5 * cfg.width + (1.3 * i) % 3.0,
                            0.5 * cfg.height - (0.7 * i) % 2.0, dtype=f64))

    def put(t: Tensor, grad: bool) -> Tensor:
        t = t.to(device=device, dtype=dtype).contiguous()
        return t.requires_grad_(grad) if grad else t

    g = Gaussians(means=put(means, requires_grad), quats=put(quats, requires_grad),
                  scales=put(scales, requires_grad), opacities=put(opacities, requires_grad),
                  colors=put(colors, requires_grad))
    cams = RenderCameras(viewmats=put(torch.stack(viewmats), False), Ks=put(torch.stack(ks), False),
                         width=cfg.width, height=cfg.height)
    return g, cams


def image_diff_stats(a: Tensor, b: Tensor, tol: float = 1e-3) -> dict[str, float]:
    """Absolute per-value differences of two same-shape images: max, p99.9, mean, fraction above ``tol``."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    d = (a.detach().double() - b.detach().double()).abs().flatten().cpu().numpy()
    if d.size == 0:
        return {"max": 0.0, "p999": 0.0, "mean": 0.0, "frac_above_tol": 0.0, "tol": tol}
    return {"max": float(d.max()), "p999": float(np.quantile(d, 0.999)), "mean": float(d.mean()),
            "frac_above_tol": float((d > tol).mean()), "tol": tol}


def grad_diff_stats(ref: Tensor, test: Tensor, rel_floor: float = 1e-3) -> dict[str, float]:
    """Per-row relative error of two gradients shaped [N, ...] (one row per Gaussian).

    rel_i = ||ref_i - test_i|| / max(||ref_i||, ||test_i||), over rows whose larger norm exceeds
    ``rel_floor`` x the median non-zero row norm of ``ref`` (rows with negligible gradient are skipped: their
    error is dominated by alpha-threshold effects). Also reports the global ||ref - test|| / ||ref||.
    """
    if ref.shape != test.shape:
        raise ValueError(f"gradient shapes differ: {tuple(ref.shape)} vs {tuple(test.shape)}")
    r = ref.detach().double().reshape(ref.shape[0], -1).cpu()
    t = test.detach().double().reshape(test.shape[0], -1).cpu()
    nr, nt = r.norm(dim=1), t.norm(dim=1)
    big = torch.maximum(nr, nt)
    nonzero = nr[nr > 0]
    floor = rel_floor * float(nonzero.median()) if nonzero.numel() else 0.0
    sel = big > max(floor, 0.0)
    sel &= big > 0
    glob = float((r - t).norm() / r.norm()) if float(r.norm()) > 0 else float((r - t).norm())
    if int(sel.sum()) == 0:
        return {"median": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "global": glob, "rows": 0}
    rel = ((r - t).norm(dim=1)[sel] / big[sel]).numpy()
    return {"median": float(np.median(rel)), "p90": float(np.quantile(rel, 0.9)),
            "p99": float(np.quantile(rel, 0.99)), "max": float(rel.max()), "global": glob,
            "rows": int(sel.sum())}


PARAM_NAMES = ("means", "quats", "scales", "opacities", "colors")


def dense_means2d_radii(out) -> tuple[Tensor, Tensor, Tensor | None]:
    """(means2d [C, N, 2], radii [C, N, 2], means2d grad [C, N, 2] or None) from a dense or packed render."""
    info = out.info
    gids = info.get("gaussian_ids")
    grad = out.means2d.grad
    if gids is None:
        return out.means2d.detach(), out.radii, grad
    n_cams, n_gauss = int(info["n_cameras"]), int(info["n_gaussians"])
    cids = info["camera_ids"]
    m = torch.zeros(n_cams, n_gauss, 2, dtype=out.means2d.dtype, device=out.means2d.device)
    r = torch.zeros(n_cams, n_gauss, 2, dtype=out.radii.dtype, device=out.radii.device)
    m[cids, gids] = out.means2d.detach()
    r[cids, gids] = out.radii
    gd = None
    if grad is not None:
        gd = torch.zeros_like(m)
        gd[cids, gids] = grad
    return m, r, gd


def _loss_weights(shape_img: tuple[int, ...], seed: int, device, dtype) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed + 12345)
    alpha_shape = shape_img[:-1] + (1,)

    def uniform(shape: tuple[int, ...]) -> Tensor:
        return (2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1).to(device=device, dtype=dtype)

    return uniform(shape_img), uniform(alpha_shape), uniform(alpha_shape)


def run_backend(cfg: RandomSceneConfig, backend: str, *, device, antialiased: bool = False,
                packed: bool = False, background: tuple[float, float, float] | None = None,
                dtype: torch.dtype = torch.float32) -> dict:
    """Render ``cfg``'s scene with one backend and backpropagate a fixed random loss.

    The loss (same weights for every backend) is sum(W1 * image) + sum(W2 * alpha) + sum(W3 * depth * alpha)
    / cam_distance. Returns {"out": RenderOutput, "grads": {param: grad}, "seconds": wall time}.
    """
    g, cams = random_scene(cfg, device=device, dtype=dtype, requires_grad=True)
    bg = None if background is None else torch.tensor(background, device=device, dtype=dtype)
    _sync(device)
    t0 = time.perf_counter()
    out = render(g, cams, backend=backend, sh_degree=cfg.sh_degree, background=bg, antialiased=antialiased,
                 packed=packed)
    w_img, w_alpha, w_depth = _loss_weights(tuple(out.image.shape), cfg.seed, device, dtype)
    loss = ((w_img * out.image).sum() + (w_alpha * out.alpha).sum()
            + (w_depth * out.depth * out.alpha).sum() / cfg.cam_distance)
    loss.backward()
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"out": out, "grads": {k: getattr(g, k).grad for k in PARAM_NAMES}, "seconds": seconds}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def compare_runs(ref: dict, test: dict, depth_scale: float = 1.0, tol: float = 1e-3) -> dict:
    """Statistics of ``test`` against ``ref`` (both from :func:`run_backend` on the same scene)."""
    a, b = ref["out"], test["out"]
    res: dict = {"image": image_diff_stats(a.image, b.image, tol),
                 "alpha": image_diff_stats(a.alpha, b.alpha, tol)}
    both = (a.alpha > 0.5) & (b.alpha > 0.5)
    res["depth"] = image_diff_stats(torch.where(both, a.depth, 0) / depth_scale,
                                    torch.where(both, b.depth, 0) / depth_scale, tol)
    res["grads"] = {k: grad_diff_stats(ref["grads"][k], test["grads"][k]) for k in PARAM_NAMES}
    ma, ra, ga = dense_means2d_radii(a)
    mb, rb, gb = dense_means2d_radii(b)
    vis_a, vis_b = (ra > 0).all(-1), (rb > 0).all(-1)
    both_vis = vis_a & vis_b
    res["visible_mismatch_frac"] = float((vis_a != vis_b).double().mean())
    any_vis = bool(both_vis.any())
    res["radii_mismatch_frac"] = float((ra != rb).any(-1)[both_vis].double().mean()) if any_vis else 0.0
    res["means2d_max_abs"] = float((ma - mb).abs()[both_vis].max()) if both_vis.any() else 0.0
    if ga is not None and gb is not None and both_vis.any():
        res["grads"]["means2d"] = grad_diff_stats(ga[both_vis], gb[both_vis])
    res["seconds"] = {"ref": ref["seconds"], "test": test["seconds"]}
    return res
