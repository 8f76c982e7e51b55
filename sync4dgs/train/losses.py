"""Training losses: pure functions of tensors (no model objects, no config).

Images are float tensors in [0, 1] with shape [H, W, 3] or [C, H, W, 3] (channels last, as the renderer
returns them). SSIM is the 3DGS Gaussian-window SSIM (11x11, sigma 1.5, zero "same" padding), computed
with two separable convolutions so it is fast and differentiable on CPU and CUDA.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

_C1 = 0.01 ** 2
_C2 = 0.03 ** 2


@functools.lru_cache(maxsize=8)
def _gauss_1d(size: int, sigma: float, device: str, dtype: torch.dtype) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _to_nchw(img: Tensor) -> Tensor:
    """[H, W, 3] or [C, H, W, 3] -> [C, 3, H, W]. On CUDA the result is made contiguous: cuDNN's grouped
    convolutions are ~4x slower on the permuted (channels-last) layout (H100, 1352x1014: blur fwd+bwd 5.1 ms vs
    1.5 ms, benchmarks/ssim_bench.py); on CPU the permuted layout is the faster one."""
    if img.dim() == 3:
        img = img[None]
    x = img.permute(0, 3, 1, 2)
    return x.contiguous() if x.is_cuda else x


def _blur(x: Tensor, win: Tensor) -> Tensor:
    """Separable Gaussian blur of [B, Ch, H, W] with zero 'same' padding."""
    ch = x.shape[1]
    k = win.numel()
    wx = win.view(1, 1, 1, k).expand(ch, 1, 1, k)
    wy = win.view(1, 1, k, 1).expand(ch, 1, k, 1)
    x = F.conv2d(x, wx, padding=(0, k // 2), groups=ch)
    return F.conv2d(x, wy, padding=(k // 2, 0), groups=ch)


def ssim_map(img: Tensor, gt: Tensor, window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel SSIM [C, 3, H, W] between images [.., H, W, 3] in [0, 1]."""
    x, y = _to_nchw(img), _to_nchw(gt)
    win = _gauss_1d(window_size, sigma, str(x.device), x.dtype)
    _, _, a1, a2, b1, b2 = _ssim_terms(x, y, win)     # one conv call for the five moments
    return (a1 * a2) / (b1 * b2)


def _ssim_terms(x: Tensor, y: Tensor, win: Tensor) -> tuple[Tensor, ...]:
    """Blurred moments of [B, C, H, W] images -> (mu_x, mu_y, A1, A2, B1, B2) with SSIM = A1 A2 / (B1 B2)."""
    mu_x, mu_y, xx, yy, xy = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), win).chunk(5, dim=1)
    mu_xy = mu_x * mu_y
    mu_xx, mu_yy = mu_x * mu_x, mu_y * mu_y
    a1 = 2 * mu_xy + _C1
    a2 = 2 * (xy - mu_xy) + _C2
    b1 = mu_xx + mu_yy + _C1
    b2 = (xx - mu_xx) + (yy - mu_yy) + _C2
    return mu_x, mu_y, a1, a2, b1, b2


class _MeanSSIM(torch.autograd.Function):
    """Mean SSIM with a closed-form gradient w.r.t. the first image (the target gets none).

    With the blurred moments mu_x, E[x^2], E[xy] as intermediate variables, dS/dx = G * (dS/dmu_x)
    + 2 x G * (dS/dE[x^2]) + y G * (dS/dE[xy]) (G = the Gaussian blur, its own adjoint: symmetric window,
    zero padding), so backward is ONE blur of three coefficient maps instead of autograd through ~25 ops.
    """

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, win: Tensor) -> Tensor:
        mu_x, mu_y, a1, a2, b1, b2 = _ssim_terms(x, y, win)
        den = b1 * b2
        s = a1 * a2 / den
        if ctx.needs_input_grad[0]:
            d_mu = (2 * mu_y * (a2 - a1) - 2 * mu_x * s * (b2 - b1)) / den     # dS/dmu_x
            d_xx = -s / b2                                                   # dS/dE[x^2]
            d_xy = 2 * a1 / den                                              # dS/dE[xy]
            ctx.save_for_backward(x, y, torch.cat([d_mu, d_xx, d_xy], dim=1), win)
        ctx.numel = s.numel()
        return s.mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, y, coeffs, win = ctx.saved_tensors
        g_mu, g_xx, g_xy = _blur(coeffs, win).chunk(3, dim=1)
        dx = torch.addcmul(g_mu, x, g_xx, value=2.0).addcmul_(y, g_xy)
        return dx * (grad / ctx.numel), None, None


def ssim(img: Tensor, gt: Tensor) -> Tensor:
    """Mean SSIM (scalar tensor) of images [.., H, W, 3] in [0, 1].

    When only ``img`` needs a gradient (training), a fused closed-form backward is used (same values and
    gradients as autograd through :func:`ssim_map`, up to rounding; fewer kernels, less memory).
    """
    needs_img = torch.is_grad_enabled() and img.requires_grad
    if needs_img and not gt.requires_grad:
        x, y = _to_nchw(img), _to_nchw(gt)
        return _MeanSSIM.apply(x, y, _gauss_1d(11, 1.5, str(x.device), x.dtype))
    return ssim_map(img, gt).mean()


def l1(img: Tensor, gt: Tensor) -> Tensor:
    """Mean absolute error (scalar)."""
    return (img - gt).abs().mean()


def psnr(img: Tensor, gt: Tensor) -> Tensor:
    """PSNR in dB (scalar tensor) of images in [0, 1] (no clamping of ``img``)."""
    mse = ((img - gt) ** 2).mean()
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def photometric_loss(img: Tensor, gt: Tensor, lambda_dssim: float = 0.2) -> Tensor:
    """(1 - lambda) * L1 + lambda * (1 - SSIM)   (3DGS / Ex4DGS)."""
    loss = (1.0 - lambda_dssim) * l1(img, gt)
    if lambda_dssim > 0:
        loss = loss + lambda_dssim * (1.0 - ssim(img, gt))
    return loss


def static_drift(velocities: Tensor) -> Tensor:
    """Mean norm of static per-Gaussian velocities [Ns, 3] (keeps static points static). 0 if empty."""
    if velocities.numel() == 0:
        return velocities.sum()
    return velocities.norm(dim=-1).mean()


def motion_smoothness(key_means: Tensor) -> Tensor:
    """Mean distance between consecutive keyframe positions of dynamic Gaussians [Nd, K, 3]. 0 if none."""
    if key_means.shape[0] == 0 or key_means.shape[1] < 2:
        return key_means.sum() * 0.0
    return (key_means[:, 1:] - key_means[:, :-1]).norm(dim=-1).mean()


def rotation_smoothness(key_quats: Tensor) -> Tensor:
    """Mean (1 - |<q_k, q_k+1>|) over consecutive normalised keyframe quaternions [Nd, K, 4]. 0 if none."""
    if key_quats.shape[0] == 0 or key_quats.shape[1] < 2:
        return key_quats.sum() * 0.0
    q = F.normalize(key_quats, dim=-1)
    return (1.0 - (q[:, 1:] * q[:, :-1]).sum(-1).abs()).mean()
