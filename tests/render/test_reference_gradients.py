"""Gradients of the torch reference: finite differences (float64), absgrad, packed mode, gsplat strategy."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.render import Gaussians, RenderCameras, render
from sync4dgs.render.conventions import look_at_viewmat
from sync4dgs.render.parity import RandomSceneConfig, random_scene

F64 = torch.float64


def _tiny_scene():
    means = torch.tensor([[0.0, 0.0, 0.0], [0.15, -0.1, 0.3], [-0.2, 0.1, -0.2]], dtype=F64)
    quats = torch.tensor([[0.9, 0.1, -0.2, 0.3], [0.5, 0.5, 0.1, -0.3], [1.0, 0.0, 0.2, 0.0]], dtype=F64)
    scales = torch.tensor([[0.25, 0.12, 0.18], [0.2, 0.2, 0.1], [0.15, 0.3, 0.2]], dtype=F64)
    opacities = torch.tensor([0.7, 0.55, 0.8], dtype=F64)
    colors = torch.tensor([[[0.3, -0.2, 0.5], [0.1, 0.2, -0.1], [-0.2, 0.1, 0.1], [0.05, 0.0, 0.2]],
                           [[-0.4, 0.6, 0.1], [0.2, -0.1, 0.0], [0.0, 0.1, 0.3], [-0.1, 0.2, 0.1]],
                           [[0.5, 0.5, -0.3], [0.0, 0.0, 0.2], [0.1, -0.2, 0.0], [0.2, 0.1, -0.1]]],
                          dtype=F64)
    eye = torch.tensor([0.3, -0.2, -3.0], dtype=F64)
    viewmat = look_at_viewmat(eye, torch.zeros(3, dtype=F64), up=torch.tensor([0.0, -1.0, 0.0], dtype=F64))
    K = torch.tensor([[[14.0, 0.0, 6.0], [0.0, 14.0, 5.0], [0.0, 0.0, 1.0]]], dtype=F64)
    return (means, quats, scales, opacities, colors), RenderCameras(viewmat[None], K, 12, 10)


def test_gradients_match_finite_differences_float64():
    params, cams = _tiny_scene()
    bg = torch.tensor([0.1, 0.3, 0.2], dtype=F64)

    def f(means, quats, scales, opacities, colors, viewmats):
        out = render(Gaussians(means, quats, scales, opacities, colors),
                     RenderCameras(viewmats, cams.Ks, cams.width, cams.height), backend="torch", sh_degree=1,
                     background=bg)
        return torch.cat([out.image.flatten(), out.alpha.flatten(), 0.1 * out.depth.flatten()])

    inputs = tuple(p.clone().requires_grad_(True) for p in params + (cams.viewmats,))
    assert f(*inputs)[: 12 * 10 * 3].abs().sum() > 1.0  # something is rendered
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_antialiased_gradients_match_finite_differences_float64():
    params, cams = _tiny_scene()

    def f(means, scales, opacities):
        out = render(Gaussians(means, params[1], scales, opacities, params[4]), cams, backend="torch",
                     sh_degree=1, antialiased=True)
        return torch.cat([out.image.flatten(), out.alpha.flatten()])

    inputs = (params[0].clone().requires_grad_(True), (0.3 * params[2]).requires_grad_(True),
              params[3].clone().requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def _render_random(packed: bool, absgrad: bool = False):
    g, cams = random_scene(RandomSceneConfig(n_gaussians=400, width=48, height=36, n_cameras=2, seed=11),
                           requires_grad=True, dtype=F64)
    out = render(g, cams, backend="torch", sh_degree=3, packed=packed, absgrad=absgrad)
    weights = torch.linspace(-1.0, 1.0, out.image.numel(), dtype=F64).reshape(out.image.shape)
    loss = (out.image * weights).sum() + 0.01 * out.depth.sum()
    loss.backward()
    return g, out


def test_packed_mode_gives_same_images_and_gradients_as_dense():
    g_dense, dense = _render_random(packed=False)
    g_packed, packed = _render_random(packed=True)
    torch.testing.assert_close(packed.image, dense.image, rtol=0, atol=1e-13)
    for name in ("means", "quats", "scales", "opacities", "colors"):
        torch.testing.assert_close(getattr(g_packed, name).grad, getattr(g_dense, name).grad, rtol=1e-9,
                                   atol=1e-12)
    cam_ids, gids = packed.info["camera_ids"], packed.info["gaussian_ids"]
    assert packed.means2d.shape == (cam_ids.numel(), 2) and packed.radii.shape == (cam_ids.numel(), 2)
    torch.testing.assert_close(packed.means2d.grad, dense.means2d.grad[cam_ids, gids])
    assert torch.equal(packed.visible, dense.visible)
    assert torch.equal(packed.radii, dense.radii[cam_ids, gids])


def test_absgrad_is_sum_of_per_pixel_absolute_gradients():
    _, out = _render_random(packed=False, absgrad=True)
    means2d = out.info["means2d"]
    assert means2d is out.means2d
    grad, absgrad = means2d.grad, means2d.absgrad
    assert absgrad.shape == grad.shape
    assert (absgrad >= grad.abs() - 1e-12).all()
    assert (absgrad[~out.visible] == 0).all()
    has_grad = grad.abs().sum(-1) > 0
    assert has_grad.sum() > 100
    assert (absgrad.sum(-1)[has_grad] > 0).all()
    assert (absgrad - grad.abs()).max() > 1e-6  # opposite-signed per-pixel gradients do not cancel


def test_info_drives_gsplat_default_strategy_on_cpu():
    from gsplat.strategy import DefaultStrategy

    g, cams = random_scene(RandomSceneConfig(n_gaussians=200, width=32, height=24, seed=5))
    params = torch.nn.ParameterDict({k: torch.nn.Parameter(getattr(g, k).clone())
                                     for k in ("means", "quats", "scales", "opacities", "colors")})
    optimizers = {k: torch.optim.Adam([p], lr=1e-3) for k, p in params.items()}
    strategy = DefaultStrategy(refine_start_iter=10_000, refine_scale2d_stop_iter=1000, verbose=False)
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state()
    out = render(Gaussians(params["means"], params["quats"], params["scales"], params["opacities"],
                           params["colors"]), cams, backend="torch", sh_degree=3)
    strategy.step_pre_backward(params, optimizers, state, 0, out.info)
    out.image.mean().backward()
    strategy.step_post_backward(params, optimizers, state, 0, out.info, packed=False)
    vis = out.visible[0]
    assert torch.equal(state["count"] > 0, vis)
    scale = torch.tensor([cams.width / 2.0, cams.height / 2.0])
    expected = torch.where(vis, (out.info["means2d"].grad[0] * scale).norm(dim=-1), 0.0)
    torch.testing.assert_close(state["grad2d"], expected.float())
    assert (state["grad2d"] > 0).sum() > 100
    expected_radii = out.radii[0].max(dim=-1).values / float(max(cams.width, cams.height))
    torch.testing.assert_close(state["radii"], expected_radii.float())


@pytest.mark.parametrize("block,opaque", [(4, False), (64, False), (3, True)])
def test_analytic_chunk_backward_matches_autograd_with_clamping_and_early_stop(block, opaque):
    from sync4dgs.render.backends.torch_composite import CompositeChunk

    gen = torch.Generator().manual_seed(0)
    n_tiles, n_pix, n_list, n_feat = 3, 24, 14, 4
    rnd = lambda *s: torch.rand(*s, generator=gen, dtype=F64)  # noqa: E731
    means = 4.0 * rnd(n_tiles, n_list, 2)
    pixels = 4.0 * rnd(n_tiles, n_pix, 2)
    a, c = 0.3 + rnd(n_tiles, n_list), 0.3 + rnd(n_tiles, n_list)
    b = 0.2 * (rnd(n_tiles, n_list) - 0.5)
    conics = torch.stack([a, b, c], dim=-1)
    opac = 0.5 + 0.5 * rnd(n_tiles, n_list)
    opac[:, ::3] = 0.99995  # some alphas hit the 0.999 clamp near the centre ...
    pixels[:, 0] = means[:, 0] + 0.01  # ... of these pixels
    pixels[:, 1] = means[:, 3] - 0.01
    feats = rnd(n_tiles, n_list, n_feat)
    entry_ok = torch.ones(n_tiles, n_list, dtype=torch.bool)
    entry_ok[0, -3:] = False  # padding
    if opaque:  # wide, near-opaque Gaussians: every pixel saturates within the first blocks
        conics = 0.01 * conics
        opac = torch.full_like(opac, 0.98)

    def plain(means, conics, opac, feats):
        # the forward rules written out sequentially (independent of the module), then autograd
        delta = means[:, None] - pixels[:, :, None]
        dx, dy = delta[..., 0], delta[..., 1]
        ca, cb, cc = (conics[:, None, :, i] for i in range(3))
        sigma = 0.5 * (ca * dx**2 + cc * dy**2) + cb * dx * dy
        raw = opac[:, None] * torch.exp(-sigma)
        alpha = torch.clamp_max(raw, 0.999)
        with torch.no_grad():
            keep = torch.zeros_like(alpha, dtype=torch.bool)
            trans = torch.ones(n_tiles, n_pix, dtype=F64)
            done = torch.zeros(n_tiles, n_pix, dtype=torch.bool)
            for i in range(n_list):
                use = entry_ok[:, None, i] & (sigma[..., i] >= 0) & (alpha[..., i] >= 1 / 255) & ~done
                nxt = trans * (1 - alpha[..., i])
                stop = use & (nxt <= 1e-4)
                done |= stop
                keep[..., i] = use & ~stop
                trans = torch.where(keep[..., i], nxt, trans)
        al = torch.where(keep, alpha, torch.zeros_like(alpha))
        tr = torch.cumprod(1 - al, -1)
        before = torch.cat([torch.ones_like(tr[..., :1]), tr[..., :-1]], -1)
        return (al * before) @ feats, tr[..., -1], keep, raw

    leaves = [t.clone().requires_grad_(True) for t in (means, conics, opac, feats)]
    acc_ref, tr_ref, keep, raw = plain(*leaves)
    if opaque:
        assert not keep[..., block:].any(), "all pixels stop in the first block: later blocks are skipped"
    else:
        assert (keep & (raw > 0.999)).any(), "the clamp case is exercised"
    assert (~keep.all(-1)).any()
    g_acc, g_tr = rnd(*acc_ref.shape) - 0.5, rnd(*tr_ref.shape) - 0.5
    ref_grads = torch.autograd.grad((acc_ref * g_acc).sum() + (tr_ref * g_tr).sum(), leaves)

    leaves2 = [t.clone().requires_grad_(True) for t in (means, conics, opac, feats)]
    acc, tr = CompositeChunk.apply(*leaves2, pixels, entry_ok, None, block)
    torch.testing.assert_close(acc, acc_ref.detach(), rtol=0, atol=1e-13)
    torch.testing.assert_close(tr, tr_ref.detach(), rtol=0, atol=1e-13)
    grads = torch.autograd.grad((acc * g_acc).sum() + (tr * g_tr).sum(), leaves2)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
