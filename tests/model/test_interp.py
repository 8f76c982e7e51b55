"""Keyframe interpolation: exactness, C1 continuity, linear option, slerp/nlerp properties, time gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.model.interp import (catmull_rom_eval, hermite, interpolate_keyframes, interpolate_rotations,
                                   keyframe_coordinates, nlerp, slerp)
from sync4dgs.utils.geometry import quat_to_rotmat

T0, DT = -0.7, 0.25


def _keys(n=6, k=9, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, d, generator=g, dtype=torch.float64)


def test_hermite_is_exact_at_every_keyframe():
    key = _keys()
    for k in range(key.shape[1]):
        t = torch.tensor(T0 + k * DT, dtype=torch.float64)
        torch.testing.assert_close(catmull_rom_eval(key, t, T0, DT), key[:, k], atol=1e-12, rtol=0)


def test_linear_is_exact_at_keyframes_and_linear_between():
    key = _keys()
    for k in range(key.shape[1] - 1):
        t = torch.tensor(T0 + (k + 0.3) * DT, dtype=torch.float64)
        expected = 0.7 * key[:, k] + 0.3 * key[:, k + 1]
        torch.testing.assert_close(interpolate_keyframes(key, t, T0, DT, "linear"), expected, atol=1e-12, rtol=0)
        t_key = torch.tensor(T0 + k * DT, dtype=torch.float64)
        torch.testing.assert_close(interpolate_keyframes(key, t_key, T0, DT, "linear"), key[:, k],
                                   atol=1e-12, rtol=0)


def test_hermite_matches_catmull_rom_formula_with_neighbour_tangents():
    key = _keys()
    n, u = 3, 0.37
    p = key.numpy()
    m0 = (p[:, n + 1] - p[:, n - 1]) / 2
    m1 = (p[:, n + 2] - p[:, n]) / 2
    h00, h10, h01, h11 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2
    expected = h00 * p[:, n] + h10 * m0 + h01 * p[:, n + 1] + h11 * m1
    got = hermite(key, torch.tensor(u, dtype=torch.float64), torch.tensor(n))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def _velocity(key, t, mode="hermite"):
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    out = interpolate_keyframes(key, tt, T0, DT, mode)
    (grad,) = torch.autograd.grad(out.sum(), tt)
    return out.detach(), grad


def _one_sided_slopes(f, tk, h=1e-4):
    """Second-order one-sided finite-difference derivatives just left / right of tk."""
    left = (3 * f(tk) - 4 * f(tk - h) + f(tk - 2 * h)) / (2 * h)
    right = (-3 * f(tk) + 4 * f(tk + h) - f(tk + 2 * h)) / (2 * h)
    return left, right


@pytest.mark.parametrize("k", [1, 2, 5, 7])
def test_hermite_is_c1_across_keyframe_boundaries(k):
    """Left and right derivatives at keyframe k agree (C1), the value is continuous; linear is not C1."""
    key = _keys()
    tk = T0 + k * DT
    f = lambda t, mode="hermite": interpolate_keyframes(key, torch.tensor(t, dtype=torch.float64), T0, DT, mode)  # noqa: E731
    left, right = _one_sided_slopes(f, tk)
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f(tk - 1e-9), f(tk + 1e-9), atol=1e-7, rtol=0)
    # the same check detects the kink of linear interpolation (so it has power)
    left_lin, right_lin = _one_sided_slopes(lambda t: f(t, "linear"), tk)
    assert float((left_lin - right_lin).abs().max()) > 0.1
    # and the autograd time derivative on either side agrees too
    _, g_left = _velocity(key, tk - 1e-7)
    _, g_right = _velocity(key, tk + 1e-7)
    assert abs(float(g_left) - float(g_right)) < 1e-4 * max(1.0, abs(float(g_left)))


@pytest.mark.parametrize("mode", ["hermite", "linear"])
def test_time_derivative_matches_finite_differences(mode):
    key = _keys()
    for t in (T0 + 0.31 * DT, T0 + 3.77 * DT, T0 + 7.5 * DT):
        _, g = _velocity(key, t, mode)
        h = 1e-6
        fd = (interpolate_keyframes(key, torch.tensor(t + h, dtype=torch.float64), T0, DT, mode)
              - interpolate_keyframes(key, torch.tensor(t - h, dtype=torch.float64), T0, DT, mode)).sum() / (2 * h)
        assert abs(float(g) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_times_outside_the_grid_clamp_to_the_end_keyframes_with_zero_time_gradient():
    key = _keys()
    K = key.shape[1]
    before, g_before = _velocity(key, T0 - 3.0)
    after, g_after = _velocity(key, T0 + (K - 1) * DT + 5.0)
    torch.testing.assert_close(before, key[:, 0])
    torch.testing.assert_close(after, key[:, -1])
    assert float(g_before) == 0.0 and float(g_after) == 0.0


def test_per_gaussian_times_give_the_same_result_as_scalar_times():
    key = _keys()
    t = torch.tensor([T0 + 0.2, T0 + 1.1, T0 + 0.05, T0 + 1.9, T0 + 0.6, T0 + 1.3], dtype=torch.float64)
    batched = catmull_rom_eval(key, t, T0, DT)
    for i in range(key.shape[0]):
        torch.testing.assert_close(batched[i], catmull_rom_eval(key[i:i + 1], t[i], T0, DT)[0])


def test_keyframe_coordinates_are_differentiable_and_bounded():
    t = torch.tensor(T0 + 2.4 * DT, dtype=torch.float64, requires_grad=True)
    n, u = keyframe_coordinates(t, T0, DT, 9)
    assert int(n) == 2 and abs(float(u.detach()) - 0.4) < 1e-12
    (du,) = torch.autograd.grad(u, t)
    assert abs(float(du) - 1 / DT) < 1e-12
    n_end, u_end = keyframe_coordinates(torch.tensor(T0 + 8 * DT, dtype=torch.float64), T0, DT, 9)
    assert int(n_end) == 7 and abs(float(u_end) - 1.0) < 1e-12


def _random_unit_quats(n, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def _slerp_reference(q0, q1, u):
    """Textbook float64 slerp on the short arc, row by row (numpy)."""
    out = []
    for a, b, uu in zip(q0.numpy(), q1.numpy(), u.numpy()):
        if a @ b < 0:
            b = -b
        omega = math.acos(min(1.0, a @ b))
        out.append((math.sin((1 - uu) * omega) * a + math.sin(uu * omega) * b) / math.sin(omega))
    return np.array(out)


def test_slerp_matches_float64_reference_and_is_unit_norm():
    q0, q1 = _random_unit_quats(200, 1), _random_unit_quats(200, 2)
    u = torch.rand(200, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = slerp(q0, q1, u[:, None])
    np.testing.assert_allclose(got.numpy(), _slerp_reference(q0, q1, u), atol=1e-9)
    np.testing.assert_allclose(got.norm(dim=-1).numpy(), 1.0, atol=1e-12)


def test_slerp_is_exact_at_the_ends_and_takes_the_short_arc():
    q0, q1 = _random_unit_quats(50, 4), _random_unit_quats(50, 5)
    torch.testing.assert_close(slerp(q0, q1, 0.0), q0, atol=1e-12, rtol=0)
    end = slerp(q0, q1, 1.0)
    # equal up to the quaternion double cover: the short-arc flip may return -q1
    np.testing.assert_allclose(torch.abs((end * q1).sum(-1)).numpy(), 1.0, atol=1e-12)
    # short arc: the midpoint is at angle omega/2 <= pi/4 from q0 on the sphere of unit quaternions
    mid = slerp(q0, q1, 0.5)
    assert bool(((mid * q0).sum(-1) >= math.cos(math.pi / 4) - 1e-12).all())
    # q1 and -q1 are the same rotation -> identical result
    torch.testing.assert_close(slerp(q0, -q1, 0.3), slerp(q0, q1, 0.3), atol=1e-12, rtol=0)


def test_slerp_is_finite_with_finite_gradients_for_identical_and_nearly_identical_quaternions():
    q0 = _random_unit_quats(8, 6).requires_grad_(True)
    q1 = (q0.detach() + 1e-9 * _random_unit_quats(8, 7)).requires_grad_(True)
    u = torch.full((8, 1), 0.3, dtype=torch.float64, requires_grad=True)
    out = slerp(q0, q1, u)
    out.sum().backward()
    for g in (q0.grad, q1.grad, u.grad):
        assert torch.isfinite(g).all()
    torch.testing.assert_close(out, q0.detach(), atol=1e-8, rtol=0)
    same = slerp(q0.detach(), q0.detach(), 0.7)
    torch.testing.assert_close(same, q0.detach(), atol=1e-12, rtol=0)


def test_nlerp_is_unit_and_exact_at_ends_and_close_to_slerp_for_small_angles():
    q0 = _random_unit_quats(20, 8)
    q1 = q0 + 0.01 * _random_unit_quats(20, 9)
    q1 = q1 / q1.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(nlerp(q0, q1, 0.0), q0, atol=1e-12, rtol=0)
    torch.testing.assert_close(nlerp(q0, q1, 1.0), q1, atol=1e-12, rtol=0)
    torch.testing.assert_close(nlerp(q0, q1, 0.4), slerp(q0, q1, 0.4), atol=1e-6, rtol=0)


def test_rotation_interpolation_over_keyframes_hits_keyframes():
    key = torch.stack([_random_unit_quats(5, s) for s in range(6)], dim=1)       # [5, 6, 4]
    for k in range(6):
        got = interpolate_rotations(key, torch.tensor(T0 + k * DT, dtype=torch.float64), T0, DT)
        np.testing.assert_allclose(torch.abs((got * key[:, k]).sum(-1)).numpy(), 1.0, atol=1e-12)


def test_quat_to_rotmat_gives_proper_rotations():
    R = quat_to_rotmat(_random_unit_quats(30, 10))
    eye = torch.eye(3, dtype=torch.float64).expand(30, 3, 3)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=1e-12, rtol=0)
    np.testing.assert_allclose(torch.linalg.det(R).numpy(), 1.0, atol=1e-12)
    # 90 degrees about z maps x to y
    q = torch.tensor([[math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)]], dtype=torch.float64)
    torch.testing.assert_close(quat_to_rotmat(q)[0] @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                               torch.tensor([0.0, 1.0, 0], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_tiny_keyframe_grids(k):
    key = _keys(k=k)
    for i in range(k):
        t = torch.tensor(T0 + i * DT, dtype=torch.float64)
        torch.testing.assert_close(catmull_rom_eval(key, t, T0, DT), key[:, i], atol=1e-12, rtol=0)
        torch.testing.assert_close(interpolate_keyframes(key, t, T0, DT, "linear"), key[:, i], atol=1e-12, rtol=0)
