"""Gaussians4D: at_time outputs, time derivatives, time-domain growth, initialisation from points/tracks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.model import Gaussians4D, ModelConfig
from sync4dgs.model.initialize import SH_C0, model_from_points

from .conftest import FPS, T_RANGE, make_trajectories


def test_at_time_shapes_activations_and_order(model64):
    m = model64
    ns, nd = m.n_static, m.n_dynamic
    assert (ns, nd) == (40, 5)
    for deg in (0, 1, 2):
        g = m.at_time(0.77, sh_degree=deg)
        assert g.means.shape == (ns + nd, 3) and g.quats.shape == (ns + nd, 4)
        assert g.scales.shape == (ns + nd, 3) and g.opacities.shape == (ns + nd,)
        assert g.colors.shape == (ns + nd, (deg + 1) ** 2, 3)
        torch.testing.assert_close(g.colors[:ns, 0], m.static["sh0"][:, 0])
        torch.testing.assert_close(g.colors[:ns, 1:], m.static["shN"][:, : (deg + 1) ** 2 - 1])
    g = m.at_time(0.77)
    assert g.colors.shape[1] == 9
    torch.testing.assert_close(g.quats.norm(dim=-1), torch.ones(ns + nd, dtype=torch.float64))
    torch.testing.assert_close(g.scales[:ns], torch.exp(m.static["scales"]))
    torch.testing.assert_close(g.means[:ns], m.static["means"])
    torch.testing.assert_close(g.opacities[:ns], torch.sigmoid(m.static["opacities"]))
    assert bool((g.opacities[ns:] <= torch.sigmoid(m.dynamic["opacities"]) + 1e-15).all())
    assert bool((g.opacities >= 0).all() and (g.opacities <= 1).all())
    with pytest.raises(ValueError, match="sh_degree"):
        m.at_time(0.5, sh_degree=3)


def test_float_and_tensor_times_agree(model64):
    a = model64.at_time(1.1)
    b = model64.at_time(torch.tensor(1.1, dtype=torch.float64))
    c = model64.at_time(torch.tensor([1.1], dtype=torch.float64))
    for f in ("means", "quats", "scales", "opacities", "colors"):
        torch.testing.assert_close(getattr(a, f), getattr(b, f))
        torch.testing.assert_close(getattr(a, f), getattr(c, f))


def _time_functional(model, t):
    g = model.at_time(t)
    w = torch.linspace(0.5, 1.5, g.n, dtype=torch.float64)
    return (w[:, None] * g.means).sum() + (w[:, None] * g.quats).sum() + (w * g.opacities).sum() * 3


@pytest.mark.parametrize("t", [0.013, 0.401, 0.93, 1.37, 1.81, 2.2])
def test_time_derivative_by_autograd_matches_finite_differences(model64, t):
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(_time_functional(model64, tt), tt)
    h = 1e-6
    with torch.no_grad():
        fd = (_time_functional(model64, t + h) - _time_functional(model64, t - h)) / (2 * h)
    assert float(fd) != 0.0
    assert abs(float(grad) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_interior_covers_the_requested_range_with_margins(model64):
    lo, hi = model64.interior_time_range_s()
    margin = model64.config.time_margin_s
    assert lo <= T_RANGE[0] - margin + 1e-6 and hi >= T_RANGE[1] + margin - 1e-6
    assert math.isclose(float(model64.key_interval_s), 10 / FPS, rel_tol=1e-6)
    times = model64.keyframe_times_s()
    assert times.shape == (model64.num_keyframes,)
    np.testing.assert_allclose(np.diff(times.numpy()), 10 / FPS, rtol=1e-5)


def test_ensure_time_domain_extends_both_ends_and_keeps_interior_values(model64):
    m = model64
    lo, hi = m.interior_time_range_s()
    K = m.num_keyframes
    assert m.ensure_time_domain(T_RANGE[0], T_RANGE[1]) is False
    samples = np.linspace(lo, hi, 57)
    before = [m.at_time(float(t)) for t in samples]
    old_t0 = float(m.key_t0_s)
    assert m.ensure_time_domain(lo - 1.0, hi + 0.45) is True
    new_lo, new_hi = m.interior_time_range_s()
    assert new_lo <= lo - 1.0 - m.config.time_margin_s + 1e-9
    assert new_hi >= hi + 0.45 + m.config.time_margin_s - 1e-9
    n_before = round((old_t0 - float(m.key_t0_s)) / float(m.key_interval_s))
    assert n_before > 0 and m.num_keyframes > K + n_before
    assert m.dynamic["key_means"].shape == (m.n_dynamic, m.num_keyframes, 3)
    assert m.dynamic["key_quats"].shape == (m.n_dynamic, m.num_keyframes, 4)
    for t, g0 in zip(samples, before):
        g1 = m.at_time(float(t))
        for f in ("means", "quats", "opacities"):
            torch.testing.assert_close(getattr(g1, f), getattr(g0, f), atol=1e-12, rtol=0)
    # new keyframes continue the end segments linearly, rotations are held
    km = m.dynamic["key_means"].detach()
    step = km[:, n_before + 1] - km[:, n_before]
    torch.testing.assert_close(km[:, 0], km[:, n_before] - n_before * step)
    torch.testing.assert_close(m.dynamic["key_quats"][:, 0], m.dynamic["key_quats"][:, n_before])
    assert m.ensure_time_domain(lo - 1.0, hi + 0.45) is False


def test_ensure_time_domain_keeps_optimizer_moments_aligned(model64):
    m = model64
    opts = {k: torch.optim.Adam([p], lr=1e-3) for k, p in m.dynamic.items()}
    _time_functional(m, 0.9).backward()
    for o in opts.values():
        o.step()
    old_avg = opts["key_means"].state[m.dynamic["key_means"]]["exp_avg"].clone()
    assert float(old_avg.abs().sum()) > 0
    old_t0 = float(m.key_t0_s)
    assert m.ensure_time_domain(-3.0, 1.0, optimizers=opts)
    nb = round((old_t0 - float(m.key_t0_s)) / float(m.key_interval_s))
    st = opts["key_means"].state[m.dynamic["key_means"]]
    assert st["exp_avg"].shape == m.dynamic["key_means"].shape
    torch.testing.assert_close(st["exp_avg"][:, nb:], old_avg)
    assert float(st["exp_avg"][:, :nb].abs().sum()) == 0.0
    assert opts["key_means"].param_groups[0]["params"][0] is m.dynamic["key_means"]
    m.zero_grad()
    _time_functional(m, -2.5).backward()
    for o in opts.values():
        o.step()


def test_from_points_static_initialisation(rng):
    xyz = rng.normal(size=(30, 3))
    rgb = rng.integers(0, 256, size=(30, 3), dtype=np.uint8)
    m = model_from_points(xyz, rgb, T_RANGE, ModelConfig(), keyframe_interval_s=0.25)
    assert m.n_static == 30 and m.n_dynamic == 0 and m.num_keyframes >= 4
    np.testing.assert_allclose(m.static["sh0"][:, 0].detach().numpy(), (rgb / 255 - 0.5) / SH_C0, rtol=1e-5)
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    d.sort(axis=1)
    expected = np.log(np.sqrt(np.mean(d[:, 1:4] ** 2, axis=1)))
    np.testing.assert_allclose(m.static["scales"].detach().numpy(), np.repeat(expected[:, None], 3, 1), rtol=1e-5)
    np.testing.assert_allclose(torch.sigmoid(m.static["opacities"]).detach().numpy(), 0.1, rtol=1e-5)
    torch.testing.assert_close(m.static["quats"].detach(), torch.tensor([[1.0, 0, 0, 0]]).expand(30, 4))
    assert m.static["shN"].shape == (30, 15, 3) and float(m.static["shN"].detach().abs().sum()) == 0
    assert math.isclose(float(m.key_interval_s), 0.25)
    g = m.at_time(0.3)
    assert g.n == 30


def test_from_points_with_trajectories_reproduces_tracks_at_keyframes(rng):
    traj = make_trajectories(rng)
    m = model_from_points(rng.normal(size=(20, 3)), rng.uniform(size=(20, 3)), T_RANGE,
                          ModelConfig(), traj, fps_ref=FPS)
    kept = [0, 1, 2, 4, 5]                       # track 3 is all NaN
    assert m.n_dynamic == len(kept)
    key_times = m.keyframe_times_s().double().numpy()
    for row, track in enumerate(kept):
        valid = np.isfinite(traj["xyz"][track]).all(-1)
        tv, pv = traj["times_s"][valid], traj["xyz"][track][valid]
        for k, tk in enumerate(key_times):
            expected = np.array([np.interp(tk, tv, pv[:, c]) for c in range(3)])
            got = m.at_time(float(tk)).means[m.n_static + row].detach().numpy()
            np.testing.assert_allclose(got, expected, atol=2e-5)
        # temporal opacity: full base opacity inside the valid span, fading well outside it
        op = lambda t: float(m.at_time(t).opacities[m.n_static + row].detach())  # noqa: E731
        assert math.isclose(op(float(tv.mean())), 0.1, rel_tol=1e-5)
        np.testing.assert_allclose(m.dynamic["t_center"][row].detach().numpy(), [tv[0], tv[-1]], atol=1e-6)
    # track 0 appears at t = times[10]; well before, it is nearly invisible
    assert float(m.at_time(traj["times_s"][10] - 1.0).opacities[m.n_static].detach()) < 1e-3
    np.testing.assert_allclose(m.dynamic["sh0"][:, 0].detach().numpy(),
                               (traj["rgb"][kept] / 255 - 0.5) / SH_C0, rtol=1e-5)
    assert bool((m.dynamic["scales"] < m.static["scales"].max()).all())


def test_from_points_needs_an_interval_and_validates_tracks(rng):
    with pytest.raises(ConfigError, match="keyframe_interval_s"):
        model_from_points(np.zeros((3, 3)), np.zeros((3, 3)), T_RANGE, ModelConfig())
    bad = make_trajectories(rng)
    bad["rgb"] = bad["rgb"][:2]
    with pytest.raises(DataFormatError, match="rgb"):
        model_from_points(np.zeros((3, 3)), np.zeros((3, 3)), T_RANGE, ModelConfig(), bad, fps_ref=30)
    with pytest.raises(ConfigError, match="interpolation"):
        ModelConfig(interpolation="cubic")
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({"sh_degree": 3, "bogus": 1})


def test_static_motion_option_moves_static_points_linearly(rng):
    cfg = ModelConfig(static_motion=True, sh_degree=0)
    m = model_from_points(rng.normal(size=(5, 3)), rng.uniform(size=(5, 3)), T_RANGE, cfg, fps_ref=FPS)
    assert "velocities" in m.static
    with torch.no_grad():
        m.static["velocities"].copy_(torch.arange(15.0).reshape(5, 3))
    g0, g1 = m.at_time(0.0), m.at_time(0.5)
    torch.testing.assert_close(g1.means - g0.means, 0.5 * m.static["velocities"].detach())


def test_linear_and_nlerp_modes_hit_keyframes(rng):
    cfg = ModelConfig(interpolation="linear", rotation_interp="nlerp", sh_degree=1)
    m = model_from_points(rng.normal(size=(4, 3)), rng.uniform(size=(4, 3)), T_RANGE, cfg,
                          make_trajectories(rng), fps_ref=FPS).double()
    tk = m.keyframe_times_s()[3]
    torch.testing.assert_close(m.dynamic_at(tk).means, m.dynamic["key_means"][:, 3])


def test_model_size_counts_every_stored_tensor(model64):
    m = model64
    n_values = sum(p.numel() for p in m.parameters()) + 3
    assert m.num_parameters_bytes() == 8 * n_values
    assert math.isclose(m.size_mb(), 8 * n_values / 2**20)


def test_from_state_dict_rebuilds_an_identical_model(model64):
    m2 = Gaussians4D.from_state_dict(model64.state_dict(), model64.config)
    g1, g2 = model64.at_time(0.66), m2.at_time(0.66)
    for f in ("means", "quats", "scales", "opacities", "colors"):
        torch.testing.assert_close(getattr(g1, f), getattr(g2, f))


@pytest.mark.gpu
def test_at_time_runs_without_host_syncs_on_cuda(model64):
    m = model64.float().cuda()
    t = torch.tensor(0.7, device="cuda", requires_grad=True)
    m.at_time(t)       # warm-up (lazy CUDA init may sync)
    torch.cuda.set_sync_debug_mode("error")
    try:
        g = m.at_time(t, sh_degree=1)
        (g.means.sum() + g.opacities.sum()).backward()
        m.at_time(0.9)
    finally:
        torch.cuda.set_sync_debug_mode("default")
