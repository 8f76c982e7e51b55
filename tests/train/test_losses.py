"""Loss functions: SSIM values and gradients, regularisers on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from sync4dgs.train import losses


def test_ssim_matches_skimage_gaussian_ssim_in_the_interior():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(40, 48, 3, generator=g)
    b = (a + 0.15 * torch.randn(40, 48, 3, generator=g)).clamp(0, 1)
    ours = losses.ssim_map(a, b)[0].mean(0)                         # [H, W]
    _, ref = structural_similarity(a.numpy(), b.numpy(), channel_axis=2, data_range=1.0, gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False, full=True)
    ref = ref.mean(-1)
    assert np.allclose(ours[6:-6, 6:-6].numpy(), ref[6:-6, 6:-6], atol=1e-4)
    assert losses.ssim(a, a).item() == pytest.approx(1.0, abs=1e-5)


def test_photometric_loss_is_differentiable_and_zero_at_target():
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(12, 10, 3, dtype=torch.float64, generator=g)
    img = (gt + 0.05 * torch.randn(12, 10, 3, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: losses.photometric_loss(x, gt, 0.2), (img,), eps=1e-6, atol=1e-5)
    assert losses.photometric_loss(gt, gt, 0.2).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.psnr(gt, gt).item() > 100


def test_regularisers_on_known_inputs():
    key = torch.zeros(2, 4, 3)
    key[0, :, 0] = torch.tensor([0.0, 1.0, 3.0, 6.0])      # steps 1, 2, 3
    assert losses.motion_smoothness(key).item() == pytest.approx((1 + 2 + 3) / 6)
    q = torch.zeros(1, 3, 4)
    q[..., 0] = 1.0
    assert losses.rotation_smoothness(q).item() == pytest.approx(0.0)
    q[0, 1] = torch.tensor([-1.0, 0, 0, 0])                # same rotation, opposite sign: no penalty
    assert losses.rotation_smoothness(q).item() == pytest.approx(0.0)
    assert losses.static_drift(torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])).item() == pytest.approx(2.5)
    assert losses.motion_smoothness(torch.zeros(0, 4, 3)).item() == 0.0
