"""The fast inference path (InferenceView) computes the same Gaussians as Gaussians4D.at_time, and its cache
follows every kind of parameter change; the few-launch Hermite basis equals the old Catmull-Rom formula."""

from __future__ import annotations

import copy
import gc
import math

import numpy as np
import pytest
import torch

from sync4dgs.model import Gaussians4D, ModelConfig
from sync4dgs.model.inference import InferenceView, catmull_rom_weights, segment_coordinates
from sync4dgs.model.interp import catmull_rom, catmull_rom_basis, gather_keys, hermite, keyframe_coordinates

FIELDS = ("means", "quats", "scales", "opacities", "colors")


def assert_same(a, b, atol: float) -> None:
    for f in FIELDS:
        torch.testing.assert_close(getattr(b, f), getattr(a, f), atol=atol, rtol=0, msg=f)


def sweep(model) -> list[float]:
    t0, dt, K = float(model.key_t0_s), float(model.key_interval_s), model.num_keyframes
    inside = np.random.default_rng(3).uniform(t0, t0 + (K - 1) * dt, 7).tolist()
    return [t0 - 1.0, t0, t0 + dt, t0 + (K - 1) * dt, t0 + (K - 1) * dt + 2.0, *inside]


@pytest.mark.parametrize("interp", ["hermite", "linear"])
@pytest.mark.parametrize("rot", ["slerp", "nlerp"])
def test_matches_at_time_in_float64(model64, interp, rot):
    model64.config.interpolation, model64.config.rotation_interp = interp, rot
    view = model64.inference_view()
    assert model64.n_dynamic > 0 and model64.num_keyframes > 3
    for t in sweep(model64):
        for sh in (None, 0, 1):
            assert_same(model64.at_time(t, sh_degree=sh), view.at_time(t, sh_degree=sh), atol=1e-12)
    assert view.rebuilds == 3          # one state per SH degree, none rebuilt while nothing changed


def test_matches_at_time_in_float32(model64):
    model = model64.float()
    view = InferenceView(model)
    for t in sweep(model):
        assert_same(model.at_time(t), view.at_time(t), atol=2e-5)


def test_small_rotation_angles_agree_with_the_nlerp_branch(model64):
    d = model64.dynamic
    with torch.no_grad():
        base = torch.nn.functional.normalize(d["key_quats"][:, :1], dim=-1)
        d["key_quats"].copy_(base + 1e-5 * torch.randn_like(d["key_quats"]))   # angles ~1e-5 rad
    view = model64.inference_view()
    for t in sweep(model64):
        assert_same(model64.at_time(t), view.at_time(t), atol=1e-9)


def test_cache_follows_in_place_and_structural_changes(model64):
    view = model64.inference_view()
    t = 0.9
    view.at_time(t)
    view.at_time(t + 0.1)
    assert view.rebuilds == 1
    with torch.no_grad():                                   # optimiser-like in-place update
        model64.dynamic["key_means"].add_(0.3)
        model64.static["opacities"].sub_(1.0)
    assert_same(model64.at_time(t), view.at_time(t), atol=1e-12)
    assert view.rebuilds == 2
    d = model64.dynamic                                     # densification-like replacement (fewer rows)
    keep = torch.arange(model64.n_dynamic) % 2 == 0
    for k in list(d.keys()):
        d[k] = torch.nn.Parameter(d[k].detach()[keep].clone())
    assert_same(model64.at_time(t), view.at_time(t), atol=1e-12)
    lo, hi = model64.interior_time_range_s()                # keyframe grid grows, key_t0_s moves (in place)
    assert model64.ensure_time_domain(lo - 1.0, hi + 1.0)
    for tt in (lo - 0.8, t, hi + 0.9):
        assert_same(model64.at_time(tt), view.at_time(tt), atol=1e-12)
    view.at_time(t)
    n = view.rebuilds
    view.invalidate()
    view.at_time(t)
    assert view.rebuilds == n + 1


def test_static_motion_and_degenerate_sets():
    g = torch.Generator().manual_seed(0)
    cfg = ModelConfig(sh_degree=1, static_motion=True)

    def params(n, k):
        common = {"scales": torch.randn(n, 3, generator=g), "opacities": torch.randn(n, generator=g),
                  "sh0": torch.randn(n, 1, 3, generator=g), "shN": torch.randn(n, 3, 3, generator=g)}
        static = {"means": torch.randn(n, 3, generator=g), "quats": torch.randn(n, 4, generator=g),
                  "velocities": torch.randn(n, 3, generator=g), **common}
        dynamic = {"key_means": torch.randn(n, k, 3, generator=g), "key_quats": torch.randn(n, k, 4, generator=g),
                   "t_center": torch.rand(n, 2, generator=g) * 2, "t_logwidth": torch.randn(n, 2, generator=g) - 1,
                   **common}
        return static, dynamic

    for n_static, n_dynamic, K in ((7, 5, 1), (7, 5, 2), (0, 5, 4), (7, 0, 3)):
        static, _ = params(n_static, K)
        _, dynamic = params(n_dynamic, K)
        model = Gaussians4D(cfg, static, dynamic, -0.3, 0.4, static_t_anchor_s=0.2).double()
        view = model.inference_view()
        for t in (-2.0, -0.3, 0.05, 0.5, 3.0):
            assert_same(model.at_time(t), view.at_time(t), atol=1e-12)


def test_outputs_need_no_grad_and_the_view_holds_the_model_weakly(model64):
    model = copy.deepcopy(model64)                          # the fixture keeps model64 alive
    view = model.inference_view()
    with torch.inference_mode():
        g = view.at_time(1.0)
    assert not g.means.requires_grad and not g.means.is_inference()
    g2 = view.at_time(1.0)                                  # outside inference mode as well
    assert g2.means.data_ptr() == g.means.data_ptr()        # the output buffer is reused
    del model, g, g2
    gc.collect()
    with pytest.raises(ReferenceError):
        view.at_time(1.0)


def test_host_segment_coordinates_match_the_device_ones():
    for t in (-1.0, 0.0, 0.124, 0.25, 0.9999, 1.75, 3.0):
        n, u = keyframe_coordinates(torch.tensor(t, dtype=torch.float64), -0.25, 0.25, 9)
        hn, hu = segment_coordinates(t, -0.25, 0.25, 9)
        assert hn == int(n) and math.isclose(hu, float(u), abs_tol=1e-12)


def test_catmull_rom_basis_equals_the_hermite_formula_with_gradients():
    g = torch.Generator().manual_seed(1)
    P = torch.randn(5, 8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    for n_val, u_val in ((0, 0.0), (0, 0.3), (3, 0.71), (6, 1.0)):
        n = torch.tensor(n_val)
        u = torch.tensor(u_val, dtype=torch.float64, requires_grad=True)
        q = gather_keys(P, (n + torch.arange(-1, 3)).clamp(0, 7))
        old = catmull_rom(q[:, 0], q[:, 1], q[:, 2], q[:, 3], u)
        new = hermite(P, u, n)
        torch.testing.assert_close(new, old, atol=1e-13, rtol=0)
        w = torch.tensor(catmull_rom_weights(u_val), dtype=torch.float64)
        torch.testing.assert_close(catmull_rom_basis(u.detach()), w, atol=1e-14, rtol=0)
        torch.autograd.gradcheck(lambda uu, pp: hermite(pp, uu, n), (u, P))
        gu_old, gp_old = torch.autograd.grad(old.square().sum(), (u, P))
        gu_new, gp_new = torch.autograd.grad(new.square().sum(), (u, P))
        torch.testing.assert_close(gu_new, gu_old, atol=1e-12, rtol=0)
        torch.testing.assert_close(gp_new, gp_old, atol=1e-12, rtol=0)


@pytest.mark.gpu
def test_matches_at_time_on_cuda_and_renders_the_same(model64):
    from sync4dgs.render import render
    from sync4dgs.render.conventions import look_at_viewmat, pinhole_K
    from sync4dgs.render.types import RenderCameras

    model = copy.deepcopy(model64).float().cuda()
    view = model.inference_view()
    eye = torch.tensor([0.0, -6.0, 0.5])
    cams = RenderCameras(look_at_viewmat(eye, torch.zeros(3))[None].cuda(),
                         pinhole_K(200.0, 200.0, 160.0, 120.0)[None].cuda(), 320, 240)
    for t in sweep(model):
        with torch.inference_mode():
            a, b = model.at_time(t), view.at_time(t)
            assert_same(a, b, atol=2e-5)
            ia = render(a, cams, backend="gsplat", sh_degree=2, render_depth=False).image
            ib = render(b, cams, backend="gsplat", sh_degree=2, render_depth=False).image
        assert float((ia - ib).abs().max()) < 1e-3
