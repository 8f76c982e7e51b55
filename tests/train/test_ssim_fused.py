"""SSIM: the fused closed-form backward equals autograd through the plain formula, and the values equal
pytorch-msssim's (valid-region) SSIM on the interior of our zero-padded map."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.train import losses


def _pair(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(*shape, generator=g, dtype=dtype)
    img = (gt + 0.15 * torch.randn(*shape, generator=g, dtype=dtype)).clamp(0, 1)
    return img, gt


def test_matches_pytorch_msssim_on_the_interior():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    img, gt = _pair((2, 48, 61, 3), torch.float32)
    ref = pytorch_msssim.ssim(img.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2), data_range=1.0,
                              size_average=True, win_size=11, win_sigma=1.5, K=(0.01, 0.03))
    ours = losses.ssim_map(img, gt)[..., 5:-5, 5:-5].mean()
    assert abs(float(ours) - float(ref)) < 1e-5


@pytest.mark.parametrize("shape", [(23, 31, 3), (2, 17, 20, 3)])
def test_fused_value_and_gradient_equal_autograd(shape):
    img, gt = _pair(shape, torch.float64, seed=1)
    img.requires_grad_(True)
    fused = losses.ssim(img, gt)
    (g_fused,) = torch.autograd.grad(fused, img)
    plain = losses.ssim_map(img, gt).mean()
    (g_plain,) = torch.autograd.grad(plain, img)
    assert fused.grad_fn is not None and "MeanSSIM" in type(fused.grad_fn).__name__
    torch.testing.assert_close(fused, plain, atol=1e-14, rtol=0)
    torch.testing.assert_close(g_fused, g_plain, atol=1e-14, rtol=1e-10)


def test_fused_gradcheck_and_photometric_loss():
    img, gt = _pair((9, 13, 3), torch.float64, seed=2)
    img.requires_grad_(True)
    torch.autograd.gradcheck(lambda x: losses.ssim(x, gt), (img,))
    loss = losses.photometric_loss(img, gt, 0.2)
    ref = 0.8 * (img - gt).abs().mean() + 0.2 * (1 - losses.ssim_map(img, gt).mean())
    torch.testing.assert_close(loss, ref, atol=1e-14, rtol=0)


def test_target_with_gradient_uses_autograd_and_no_grad_mode_works():
    img, gt = _pair((12, 14, 3), torch.float64, seed=3)
    img.requires_grad_(True)
    gt.requires_grad_(True)
    s = losses.ssim(img, gt)
    gi, gg = torch.autograd.grad(s, (img, gt))
    assert torch.isfinite(gi).all() and gg.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(losses.ssim(img, gt), s.detach(), atol=1e-14, rtol=0)


@pytest.mark.gpu
def test_fused_equals_autograd_on_cuda():
    img, gt = _pair((64, 80, 3), torch.float32, seed=4)
    img, gt = img.cuda().requires_grad_(True), gt.cuda()
    (g_fused,) = torch.autograd.grad(losses.ssim(img, gt), img)
    (g_plain,) = torch.autograd.grad(losses.ssim_map(img, gt).mean(), img)
    torch.testing.assert_close(g_fused, g_plain, atol=1e-8, rtol=1e-4)
