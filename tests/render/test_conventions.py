"""Conventions: SH basis (orthonormal, gsplat order), rotations, cameras."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.render.conventions import (
    SH_C0,
    camera_centers,
    look_at_viewmat,
    num_sh_bases,
    rgb_to_sh_dc,
    sh_bases,
    sh_to_rgb,
)
from sync4dgs.utils.geometry import quat_to_rotmat

F64 = torch.float64


def test_sh_basis_is_orthonormal_on_the_sphere():
    # Gauss-Legendre in cos(theta) x uniform phi integrates products of degree <= 6 exactly
    nodes, weights = np.polynomial.legendre.leggauss(12)
    phi = np.arange(24) * 2 * np.pi / 24
    ct, ph = np.meshgrid(nodes, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    dirs = torch.tensor(np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3))
    w = torch.tensor((weights[:, None] * np.full_like(ph, 2 * np.pi / 24)).reshape(-1))
    y = sh_bases(3, dirs)  # [P, 16]
    gram = (y * w[:, None]).T @ y
    torch.testing.assert_close(gram, torch.eye(16, dtype=F64), atol=1e-12, rtol=0)


def test_sh_basis_matches_gsplat_reference_order_and_signs():
    from gsplat.cuda._torch_impl import _eval_sh_bases_fast

    gen = torch.Generator().manual_seed(0)
    dirs = torch.nn.functional.normalize(torch.randn(500, 3, dtype=F64, generator=gen), dim=-1)
    for deg in range(4):
        torch.testing.assert_close(sh_bases(deg, dirs), _eval_sh_bases_fast(num_sh_bases(deg), dirs),
                                   atol=1e-14, rtol=0)


def test_sh_to_rgb_degree0_and_inverse():
    rgb = torch.tensor([[0.2, 0.5, 0.9]], dtype=F64)
    coeffs = rgb_to_sh_dc(rgb)[:, None, :]
    out = sh_to_rgb(0, torch.tensor([[0.3, -1.0, 2.0]], dtype=F64), coeffs)
    torch.testing.assert_close(out, rgb)
    assert sh_to_rgb(0, torch.ones(1, 3), torch.full((1, 1, 3), -10.0)).min().item() == 0.0
    assert SH_C0 == pytest.approx(0.5 / math.sqrt(math.pi))
    with pytest.raises(ValueError):
        sh_to_rgb(2, torch.ones(1, 3), torch.zeros(1, 4, 3))
    with pytest.raises(ValueError):
        num_sh_bases(4)


def test_quaternion_wxyz_convention():
    # 90 degrees about +z: x axis -> y axis; unnormalised input is normalised
    q = torch.tensor([[2 * math.cos(math.pi / 4), 0.0, 0.0, 2 * math.sin(math.pi / 4)]], dtype=F64)
    rot = quat_to_rotmat(q)[0]
    x_axis, y_axis = torch.tensor([1.0, 0, 0], dtype=F64), torch.tensor([0.0, 1, 0], dtype=F64)
    torch.testing.assert_close(rot @ x_axis, y_axis)
    assert torch.det(rot).item() == pytest.approx(1.0)


def test_look_at_opencv_axes_and_camera_centre():
    eye = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    target = torch.tensor([0.0, 0.0, 0.5], dtype=F64)
    vm = look_at_viewmat(eye, target)
    target_cam = vm[:3, :3] @ target + vm[:3, 3]
    assert target_cam[0].abs().item() < 1e-12 and target_cam[1].abs().item() < 1e-12 and target_cam[2] > 0
    above = vm[:3, :3] @ (target + torch.tensor([0, 0, 0.1], dtype=F64)) + vm[:3, 3]
    assert above[1] < 0  # world up appears upward in the image (OpenCV y points down)
    torch.testing.assert_close(camera_centers(vm[None])[0], eye)
    with pytest.raises(ValueError):
        look_at_viewmat(torch.zeros(3, dtype=F64), torch.tensor([0, 0, 1.0], dtype=F64))
