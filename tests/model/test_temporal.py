"""Temporal opacity (paper Eq. 10 with log widths, seconds)."""

from __future__ import annotations

import math

import torch

from sync4dgs.model.temporal import logwidth_for, temporal_opacity, temporal_widths_s

FLOOR = 0.01


def _params(c0, c1, w0, w1):
    center = torch.tensor([[c0, c1]], dtype=torch.float64)
    logw = torch.tensor([[logwidth_for(w0, FLOOR), logwidth_for(w1, FLOOR)]], dtype=torch.float64)
    return center, logw


def _op(t, center, logw):
    return temporal_opacity(torch.tensor(t, dtype=torch.float64), center, logw, FLOOR)


def test_plateau_is_exactly_one_between_the_centres():
    center, logw = _params(1.0, 2.0, 0.3, 0.5)
    for t in (1.0, 1.3, 1.999, 2.0):
        assert float(_op(t, center, logw)) == 1.0


def test_gaussian_tails_use_each_side_width():
    center, logw = _params(1.0, 2.0, 0.3, 0.5)
    assert math.isclose(float(_op(1.0 - 0.3, center, logw)), math.exp(-1), rel_tol=1e-12)
    assert math.isclose(float(_op(2.0 + 0.5, center, logw)), math.exp(-1), rel_tol=1e-12)
    assert math.isclose(float(_op(2.0 + 1.0, center, logw)), math.exp(-4), rel_tol=1e-12)


def test_equal_widths_give_a_symmetric_falloff():
    center, logw = _params(-1.0, 1.0, 0.4, 0.4)
    for d in (0.05, 0.3, 1.2):
        assert math.isclose(float(_op(-1.0 - d, center, logw)), float(_op(1.0 + d, center, logw)), rel_tol=1e-12)


def test_swapped_centres_keep_each_width_with_its_centre():
    a = _params(1.0, 2.0, 0.3, 0.5)
    b = _params(2.0, 1.0, 0.5, 0.3)
    for t in (0.2, 0.9, 1.5, 2.2, 3.0):
        assert math.isclose(float(_op(t, *a)), float(_op(t, *b)), rel_tol=1e-12)


def test_continuous_with_continuous_time_derivative_at_the_plateau_edges():
    center, logw = _params(1.0, 2.0, 0.3, 0.5)
    for edge in (1.0, 2.0):
        for t in (edge - 1e-9, edge + 1e-9):
            tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
            val = temporal_opacity(tt, center, logw, FLOOR)
            (g,) = torch.autograd.grad(val.sum(), tt)
            assert abs(float(val.detach()) - 1.0) < 1e-12 and abs(float(g)) < 1e-6


def test_gradient_in_time_matches_finite_differences_on_the_tails():
    center, logw = _params(1.0, 2.0, 0.3, 0.5)
    for t in (0.55, 2.4):
        tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(temporal_opacity(tt, center, logw, FLOOR).sum(), tt)
        h = 1e-6
        fd = (float(_op(t + h, center, logw)) - float(_op(t - h, center, logw))) / (2 * h)
        assert abs(float(g) - fd) < 1e-7


def test_per_gaussian_times_and_widths_floor():
    center = torch.tensor([[0.0, 1.0], [5.0, 6.0]], dtype=torch.float64)
    logw = torch.full((2, 2), -60.0, dtype=torch.float64)     # exp(-60) ~ 0: width = floor
    torch.testing.assert_close(temporal_widths_s(logw, FLOOR), torch.full((2, 2), FLOOR, dtype=torch.float64))
    out = temporal_opacity(torch.tensor([0.5, 6.0 + FLOOR], dtype=torch.float64), center, logw, FLOOR)
    torch.testing.assert_close(out, torch.tensor([1.0, math.exp(-1)], dtype=torch.float64))
