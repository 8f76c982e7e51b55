"""Training-time culling (Gaussians4D.visible_dynamic_rows + at_time(dynamic_rows=...)): leaving out the dynamic
Gaussians whose effective opacity is below the rasterizer's threshold changes neither the image nor any gradient,
in the parameters or in time; the densifier's statistics land on the right rows."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.model import ops
from sync4dgs.render import render
from sync4dgs.train.strategy.dynamic import accumulate_grad_stats


@pytest.fixture
def seeded(model64, local_seed_rows):
    """model64 plus 300 temporally local Gaussians (seeds every 1/30 s, visible ~2 frames each)."""
    rows, _ = local_seed_rows(model64, 300, seed=11, spread_frames=30, extent=0.4, scale=0.08)
    with torch.no_grad():
        ops.append(model64.dynamic, rows)
    return model64


def _grads(model, t, rows, camera):
    model.zero_grad(set_to_none=True)
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    out = render(model.at_time(tt, sh_degree=2, dynamic_rows=rows), camera, backend="torch", sh_degree=2)
    w = torch.linspace(0.1, 1.0, out.image.numel(), dtype=torch.float64).reshape(out.image.shape)
    out.means2d.retain_grad()
    (out.image * w).sum().backward()
    grads = {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in model.named_parameters()}
    return out, grads, tt.grad.clone()


def test_culled_step_has_the_same_image_and_gradients(seeded, small_camera):
    model = seeded
    t = float(model.key_t0_s + model.key_interval_s) + 10.4 / 30
    rows = model.visible_dynamic_rows(t)
    assert 0 < rows.numel() < 0.25 * model.n_dynamic           # most seeds are invisible at one time
    full, g_full, gt_full = _grads(model, t, None, small_camera)
    cull, g_cull, gt_cull = _grads(model, t, rows, small_camera)
    torch.testing.assert_close(cull.image, full.image, atol=1e-12, rtol=0)
    for k in g_full:
        torch.testing.assert_close(g_cull[k], g_full[k], atol=1e-12, rtol=0, msg=k)
    torch.testing.assert_close(gt_cull, gt_full, atol=1e-12, rtol=0)
    assert float(g_full["dynamic.opacities"].abs().sum()) > 0    # the comparison is not vacuous


def test_densify_statistics_land_on_the_rendered_rows(seeded, small_camera):
    model = seeded
    t = float(model.key_t0_s + model.key_interval_s) + 7.2 / 30
    rows = model.visible_dynamic_rows(t)
    ns, nd = model.n_static, model.n_dynamic
    stats = {}
    for r in (None, rows):
        out, _, _ = _grads(model, t, r, small_camera)
        binfo = {"means2d": type("G", (), {"grad": out.means2d.grad[:, ns:]})(), "radii": out.radii[:, ns:],
                 "width": 48, "height": 32, "n_cameras": 1}
        s = {}
        accumulate_grad_stats(s, binfo, nd, r)
        stats["full" if r is None else "cull"] = s
    for k in ("grad2d", "count"):
        torch.testing.assert_close(stats["cull"][k], stats["full"][k], atol=1e-9, rtol=0, msg=k)
    assert float(stats["full"]["count"].sum()) > 0
