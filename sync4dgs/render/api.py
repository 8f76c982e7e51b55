"""``render()``: the one entry point for training, evaluation, export and the viewer.

It validates shapes (metadata only: no host-device syncs), normalises the background and dispatches to a
backend. It knows nothing about time: Gaussians are already evaluated at the instant being rendered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor

from sync4dgs.errors import BackendUnavailableError
from sync4dgs.render.backends.gsplat_cuda import render_gsplat
from sync4dgs.render.backends.torch_ref import render_torch
from sync4dgs.render.capability import cuda_backend_status
from sync4dgs.render.conventions import DEFAULT_EPS2D, num_sh_bases
from sync4dgs.render.types import Gaussians, RenderCameras, RenderOutput

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "gsplat")
_warned_auto_fallback = False


def render(
    gaussians: Gaussians,
    cameras: RenderCameras,
    *,
    backend: str = "auto",
    sh_degree: int | None = None,
    background: Tensor | Sequence[float] | None = None,
    near: float = 0.01,
    far: float = 1e10,
    antialiased: bool = False,
    eps2d: float = DEFAULT_EPS2D,
    absgrad: bool = False,
    packed: bool = False,
    render_depth: bool = True,
) -> RenderOutput:
    """Render ``gaussians`` into every camera of ``cameras``.

    Args:
        gaussians: activated Gaussians (see :class:`Gaussians`); colours [N, 3] RGB when ``sh_degree`` is
            None, else SH coefficients [N, B, 3] of which the first (sh_degree+1)^2 bases are used.
        cameras: C pinhole cameras of one image size (OpenCV world-to-camera ``viewmats``, ``Ks`` in px).
        backend: "auto" (gsplat for float32 CUDA tensors when its CUDA extension loads, else the torch
            reference), "gsplat" (raises BackendUnavailableError when it cannot run) or "torch".
        sh_degree: None (plain RGB colours) or 0..3.
        background: None (black), [3] or [C, 3] colour composited behind the Gaussians (pass a tensor on
            the render device to avoid a host-to-device copy).
        near, far: camera-z culling planes (scene units); Gaussians with centre z outside [near, far] vanish.
        antialiased: Mip-Splatting 2D filter with opacity compensation (gsplat "antialiased" mode).
        eps2d: low-pass dilation added to the 2D covariance diagonal, px^2.
        absgrad: also accumulate ``info["means2d"].absgrad`` in backward (AbsGS densification).
        packed: gsplat packed layout: means2d/radii [nnz, 2] with ``info["camera_ids"/"gaussian_ids"]``.
        render_depth: also return the expected camera-z depth (gsplat "RGB+ED"); else ``depth`` is None.

    Returns:
        RenderOutput: image [C, H, W, 3], alpha [C, H, W, 1], depth [C, H, W, 1] or None, means2d, radii,
        info (gsplat strategy format).
    """
    _check_inputs(gaussians, cameras, sh_degree)
    backgrounds = _backgrounds(background, cameras.n, gaussians.means)
    name = _select_backend(backend, gaussians.means)
    kwargs = dict(sh_degree=sh_degree, backgrounds=backgrounds, near=float(near), far=float(far),
                  antialiased=bool(antialiased), eps2d=float(eps2d), absgrad=bool(absgrad),
                  packed=bool(packed), render_depth=bool(render_depth))
    if name == "gsplat":
        return render_gsplat(gaussians, cameras, **kwargs)
    return render_torch(gaussians, cameras, **kwargs)


def _select_backend(backend: str, ref: Tensor) -> str:
    global _warned_auto_fallback
    if backend not in BACKENDS:
        raise ValueError(f"render backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    on_cuda = ref.device.type == "cuda"
    if backend == "gsplat":
        if not on_cuda:
            raise BackendUnavailableError(
                f"render backend 'gsplat' needs CUDA tensors, but the Gaussians are on {ref.device}; "
                "use backend='torch' (or 'auto') on this device")
        if ref.dtype != torch.float32:
            raise BackendUnavailableError(
                f"render backend 'gsplat' supports float32 only, got {ref.dtype}; use backend='torch'")
        ok, reason = cuda_backend_status()
        if not ok:
            raise BackendUnavailableError(f"render backend 'gsplat' is unavailable: {reason}")
        return "gsplat"
    # auto
    if on_cuda and ref.dtype == torch.float32:
        ok, reason = cuda_backend_status()
        if ok:
            return "gsplat"
        if not _warned_auto_fallback:
            log.warning("gsplat CUDA backend unavailable (%s); rendering with the slow torch reference",
                        reason)
            _warned_auto_fallback = True
    return "torch"


def _check_inputs(g: Gaussians, cams: RenderCameras, sh_degree: int | None) -> None:
    """Shape/device checks (metadata only). Raises ValueError naming the offending field."""
    n = g.means.shape[0] if g.means.dim() == 2 else -1
    expect = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,)}
    for field, shape in expect.items():
        t = getattr(g, field)
        if not isinstance(t, Tensor) or tuple(t.shape) != shape or n < 0:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"Gaussians.{field} must have shape {shape} (N from means [N, 3]), got {got}")
    colors = g.colors
    if sh_degree is None:
        if tuple(colors.shape) != (n, 3):
            raise ValueError(f"with sh_degree=None, Gaussians.colors must be RGB [N, 3] = {(n, 3)}, "
                             f"got {tuple(colors.shape)} (pass sh_degree for SH coefficients [N, B, 3])")
    else:
        if isinstance(sh_degree, bool) or not isinstance(sh_degree, int):
            raise ValueError(f"sh_degree must be None or an int in 0..3, got {sh_degree!r}")
        nb = num_sh_bases(sh_degree)
        if colors.dim() != 3 or colors.shape[0] != n or colors.shape[2] != 3 or colors.shape[1] < nb:
            raise ValueError(f"with sh_degree={sh_degree}, Gaussians.colors must be SH [N, B>={nb}, 3] "
                             f"with N={n}, got {tuple(colors.shape)}")
    c = cams.viewmats.shape[0] if cams.viewmats.dim() == 3 else -1
    if tuple(cams.viewmats.shape) != (c, 4, 4) or c < 1:
        raise ValueError(f"RenderCameras.viewmats must be [C, 4, 4] with C >= 1, "
                         f"got {tuple(cams.viewmats.shape)}")
    if tuple(cams.Ks.shape) != (c, 3, 3):
        raise ValueError(f"RenderCameras.Ks must be [C, 3, 3] = {(c, 3, 3)}, got {tuple(cams.Ks.shape)}")
    if int(cams.width) < 1 or int(cams.height) < 1:
        raise ValueError(f"image size must be positive, got width={cams.width} height={cams.height}")
    dev, dtype = g.means.device, g.means.dtype
    if not dtype.is_floating_point:
        raise ValueError(f"Gaussians.means must be a floating tensor, got {dtype}")
    for name, t in (("quats", g.quats), ("scales", g.scales), ("opacities", g.opacities),
                    ("colors", colors), ("viewmats", cams.viewmats), ("Ks", cams.Ks)):
        if t.device != dev:
            raise ValueError(f"{name} is on {t.device} but means are on {dev}: put everything on one device")
        if t.dtype != dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but means have {dtype}: use one float dtype")


def _backgrounds(background, n_cams: int, ref: Tensor) -> Tensor | None:
    """None, [3] or [C, 3] -> None or [C, 3] on ref's device/dtype (expanded view, no copy for tensors)."""
    if background is None:
        return None
    bg = torch.as_tensor(background, dtype=ref.dtype, device=ref.device)
    if tuple(bg.shape) == (3,):
        return bg.expand(n_cams, 3)
    if tuple(bg.shape) == (n_cams, 3):
        return bg
    raise ValueError(f"background must be [3] or [C, 3] = {(n_cams, 3)}, got {tuple(bg.shape)}")
