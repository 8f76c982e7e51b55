"""The torch reference renderer against hand-derived values and an independent numpy splatter (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.render import Gaussians, RenderCameras, render
from sync4dgs.render.backends.torch_projection import project_gaussians
from sync4dgs.render.conventions import SH_C0, look_at_viewmat

F64 = torch.float64


def _gaussians(means, quats, scales, opacities, colors):
    t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64))  # noqa: E731
    return Gaussians(t(means), t(quats), t(scales), t(opacities), t(colors))


def _cams(viewmat, K, width, height):
    return RenderCameras(viewmats=viewmat, Ks=K, width=width, height=height)


def test_one_gaussian_2d_covariance_matches_hand_derivation(npref):
    # axis-aligned Gaussian straight ahead at z=5: J = diag(f/z, f/z) (x = y = 0), so
    # cov2d = diag((f sx / z)^2, (f sy / z)^2) and the conic is its inverse after adding 0.3 px^2.
    viewmat, K = npref.identity_camera(32, 24, focal=30.0)
    sx, sy, z, f = 0.2, 0.1, 5.0, 30.0
    one = lambda v: torch.tensor([v], dtype=F64)  # noqa: E731
    proj = project_gaussians(one([0.0, 0.0, z]), one([1.0, 0, 0, 0]), one([sx, sy, 0.3]), one(0.8), viewmat, K,
                             32, 24, eps2d=0.3, near=0.01, far=1e10, antialiased=False)
    var_x, var_y = (f * sx / z) ** 2 + 0.3, (f * sy / z) ** 2 + 0.3
    np.testing.assert_allclose(proj.conics[0, 0].numpy(), [1 / var_x, 0.0, 1 / var_y], rtol=1e-12)
    np.testing.assert_allclose(proj.means2d[0, 0].numpy(), [16.0, 12.0], rtol=1e-12)
    assert proj.depths[0, 0].item() == pytest.approx(z)
    # opacity-aware radius: ceil(sqrt(2 ln(0.8 * 255)) * sigma)
    ext = np.sqrt(2 * np.log(0.8 * 255))
    expected = [int(np.ceil(ext * np.sqrt(var_x))), int(np.ceil(ext * np.sqrt(var_y)))]
    assert proj.radii[0, 0].tolist() == expected


def test_rotated_gaussian_projection_matches_numpy(npref):
    rng = np.random.default_rng(1)
    eye = torch.tensor([3.0, -1.0, 0.5], dtype=F64)
    viewmat = look_at_viewmat(eye, torch.tensor([0.1, 0.2, -0.1], dtype=F64))[None]
    K = torch.tensor([[[40.0, 0, 20.0], [0, 42.0, 15.0], [0, 0, 1]]], dtype=F64)
    mean, quat, scale = rng.normal(size=3) * 0.3, rng.normal(size=4), np.exp(rng.normal(size=3)) * 0.1
    for aa in (False, True):
        proj = project_gaussians(torch.tensor(mean)[None], torch.tensor(quat)[None], torch.tensor(scale)[None],
                                 torch.tensor([0.7], dtype=F64), viewmat, K, 40, 30, eps2d=0.3, near=0.01,
                                 far=1e10, antialiased=aa)
        ref = npref.project(mean, quat, scale, 0.7, viewmat[0].numpy(), K[0].numpy(), 40, 30, antialiased=aa)
        np.testing.assert_allclose(proj.means2d[0, 0].numpy(), ref["mean2d"], rtol=1e-12)
        c = ref["conic"]
        np.testing.assert_allclose(proj.conics[0, 0].numpy(), [c[0, 0], c[0, 1], c[1, 1]], rtol=1e-10)
        assert proj.opacities[0, 0].item() == pytest.approx(ref["opacity"], rel=1e-12)


def test_off_axis_gaussian_uses_clamped_jacobian(npref):
    # far outside the field of view (x/z = 3 >> 1.3 tan_fov): the Jacobian uses the clamped x/z
    viewmat, K = npref.identity_camera(32, 24, focal=30.0)
    mean, scale = [15.0, 0.0, 5.0], [0.5, 0.4, 0.3]
    proj = project_gaussians(torch.tensor([mean], dtype=F64), torch.tensor([[1.0, 0, 0, 0]], dtype=F64),
                             torch.tensor([scale], dtype=F64), torch.tensor([0.9], dtype=F64), viewmat, K,
                             32, 24, eps2d=0.3, near=0.01, far=1e10, antialiased=False)
    ref = npref.project(mean, [1, 0, 0, 0], scale, 0.9, viewmat[0].numpy(), K[0].numpy(), 32, 24)
    lim = 16 / 30 + 0.3 * 16 / 30  # (W - cx)/fx + 0.3 tan_fovx = 1.3 * tan_fovx here
    f, z = 30.0, 5.0
    jx = np.array([f / z, 0.0, -f * (z * lim) / z**2])
    expected_xx = jx @ np.diag(np.square(scale)) @ jx + 0.3
    assert ref["blur"][0, 0] == pytest.approx(expected_xx, rel=1e-12)
    assert proj.conics[0, 0, 0].item() == pytest.approx(ref["conic"][0, 0], rel=1e-10)
    assert proj.radii[0, 0].tolist() == [0, 0]  # its bounding box misses the image: culled


def test_single_gaussian_pixels_match_closed_form(npref):
    viewmat, K = npref.identity_camera(24, 20, focal=25.0)
    g = _gaussians([[0.05, -0.02, 4.0]], [[0.9, 0.1, -0.2, 0.3]], [[0.15, 0.08, 0.1]], [0.85],
                   [[0.9, 0.4, 0.1]])
    for aa in (False, True):
        out = render(g, _cams(viewmat, K, 24, 20), backend="torch", antialiased=aa)
        pr = npref.project(g.means[0].numpy(), g.quats[0].numpy(), g.scales[0].numpy(), 0.85,
                           viewmat[0].numpy(), K[0].numpy(), 24, 20, antialiased=aa)
        for (px, py) in [(12, 10), (11, 9), (14, 11), (9, 13)]:
            d = pr["mean2d"] - np.array([px + 0.5, py + 0.5])
            alpha = min(0.999, pr["opacity"] * np.exp(-0.5 * d @ pr["conic"] @ d))
            alpha = alpha if alpha >= 1 / 255 else 0.0
            np.testing.assert_allclose(out.image[0, py, px].numpy(), alpha * np.array([0.9, 0.4, 0.1]),
                                       rtol=1e-10, atol=1e-14)
            assert out.alpha[0, py, px, 0].item() == pytest.approx(alpha, rel=1e-10, abs=1e-14)
            if alpha > 0:
                assert out.depth[0, py, px, 0].item() == pytest.approx(4.0 + 0.0, rel=1e-12)


def test_antialiased_attenuates_subpixel_gaussian_by_compensation(npref):
    viewmat, K = npref.identity_camera(16, 16, focal=20.0)
    g = _gaussians([[0.0, 0.0, 5.0]], [[1.0, 0, 0, 0]], [[0.05, 0.05, 0.05]], [0.9], [[1.0, 1.0, 1.0]])
    classic = render(g, _cams(viewmat, K, 16, 16), backend="torch").alpha[0, 8, 8, 0].item()
    aa = render(g, _cams(viewmat, K, 16, 16), backend="torch", antialiased=True).alpha[0, 8, 8, 0].item()
    var = (20.0 * 0.05 / 5.0) ** 2  # 0.04 px^2: much smaller than the 0.3 px^2 filter
    comp = np.sqrt(var * var / ((var + 0.3) ** 2))
    d = 0.5  # mean (8, 8) vs pixel centre (8.5, 8.5)
    expect_classic = 0.9 * np.exp(-0.5 * 2 * d * d / (var + 0.3))
    assert classic == pytest.approx(expect_classic, rel=1e-10)
    assert aa == pytest.approx(expect_classic * comp, rel=1e-10)
    assert aa < 0.2 * classic


def test_two_overlapping_gaussians_composite_front_first_whatever_the_input_order(npref):
    viewmat, K = npref.identity_camera(16, 16, focal=20.0)
    front = ([0.0, 0.0, 3.0], [0.6], [1.0, 0.0, 0.0])
    back = ([0.02, 0.0, 6.0], [0.7], [0.0, 0.0, 1.0])
    results = []
    for order in ((front, back), (back, front)):
        g = _gaussians([o[0] for o in order], [[1.0, 0, 0, 0]] * 2, [[0.4, 0.4, 0.4]] * 2,
                       [o[1][0] for o in order], [o[2] for o in order])
        results.append(render(g, _cams(viewmat, K, 16, 16), backend="torch"))
    torch.testing.assert_close(results[0].image, results[1].image, rtol=0, atol=1e-15)
    # hand composite at the pixel under the front Gaussian: C = a1 c1 + (1 - a1) a2 c2
    p = npref.project(front[0], [1, 0, 0, 0], [0.4] * 3, 0.6, viewmat[0].numpy(), K[0].numpy(), 16, 16)
    q = npref.project(back[0], [1, 0, 0, 0], [0.4] * 3, 0.7, viewmat[0].numpy(), K[0].numpy(), 16, 16)
    pix = np.array([8.5, 8.5])
    a1 = 0.6 * np.exp(-0.5 * (p["mean2d"] - pix) @ p["conic"] @ (p["mean2d"] - pix))
    a2 = 0.7 * np.exp(-0.5 * (q["mean2d"] - pix) @ q["conic"] @ (q["mean2d"] - pix))
    expected = a1 * np.array([1.0, 0, 0]) + (1 - a1) * a2 * np.array([0, 0, 1.0])
    np.testing.assert_allclose(results[0].image[0, 8, 8].numpy(), expected, rtol=1e-10)
    expected_depth = (a1 * 3.0 + (1 - a1) * a2 * 6.0) / (1 - (1 - a1) * (1 - a2))
    assert results[0].depth[0, 8, 8, 0].item() == pytest.approx(expected_depth, rel=1e-10)


@pytest.mark.parametrize("z,near,far", [(-3.0, 0.01, 1e10), (0.005, 0.01, 1e10), (5.0, 0.01, 4.0),
                                        (5.0, 6.0, 1e10)])
def test_gaussian_behind_camera_or_outside_near_far_contributes_nothing(npref, z, near, far):
    viewmat, K = npref.identity_camera(16, 16, focal=20.0)
    g = _gaussians([[0.0, 0.0, z]], [[1.0, 0, 0, 0]], [[0.3, 0.3, 0.3]], [0.9], [[1.0, 1.0, 1.0]])
    g.means.requires_grad_(True)
    out = render(g, _cams(viewmat, K, 16, 16), backend="torch", near=near, far=far,
                 background=[0.2, 0.3, 0.4])
    assert out.alpha.abs().max().item() == 0.0
    assert out.depth.abs().max().item() == 0.0  # expected depth is 0 where nothing was hit
    torch.testing.assert_close(out.image, torch.tensor([0.2, 0.3, 0.4], dtype=F64).expand(1, 16, 16, 3))
    assert out.radii.abs().sum().item() == 0
    out.image.sum().backward()
    assert torch.isfinite(g.means.grad).all() and g.means.grad.abs().sum().item() == 0.0


def test_background_blends_with_transmittance(npref):
    viewmat, K = npref.identity_camera(16, 12, focal=20.0)
    g = _gaussians([[0.0, 0.0, 4.0]], [[1.0, 0, 0, 0]], [[0.2, 0.2, 0.2]], [0.8], [[0.3, 0.6, 0.9]])
    plain = render(g, _cams(viewmat, K, 16, 12), backend="torch")
    bg = torch.tensor([1.0, 0.5, 0.0], dtype=F64)
    with_bg = render(g, _cams(viewmat, K, 16, 12), backend="torch", background=bg)
    torch.testing.assert_close(with_bg.image, plain.image + (1 - plain.alpha) * bg)
    torch.testing.assert_close(with_bg.depth, plain.depth)  # depth ignores the background


def test_sh_degree0_colour_is_c0_times_dc_plus_half(npref):
    viewmat, K = npref.identity_camera(16, 16, focal=20.0)
    dc = np.array([0.7, -0.4, 0.1])
    sh = np.zeros((1, 16, 3))
    sh[0, 0] = dc
    sh[0, 5:] = 0.3  # higher bands must be ignored at degree 0
    g = _gaussians([[0.0, 0.0, 4.0]], [[1.0, 0, 0, 0]], [[0.5, 0.5, 0.5]], [0.999], sh)
    out = render(g, _cams(viewmat, K, 16, 16), backend="torch", sh_degree=0)
    a = out.alpha[0, 8, 8, 0].item()
    np.testing.assert_allclose(out.image[0, 8, 8].numpy() / a, np.maximum(SH_C0 * dc + 0.5, 0), rtol=1e-10)


def test_sh_degree3_higher_bands_follow_view_direction(npref):
    rng = np.random.default_rng(3)
    sh = np.zeros((1, 16, 3))
    sh[0, 1:] = rng.normal(size=(15, 3)) * 0.3  # DC = 0: colour comes from bands 1..3 only
    mean = np.array([0.1, 0.2, 0.0])
    g = _gaussians([mean], [[1.0, 0, 0, 0]], [[0.3, 0.3, 0.3]], [0.999], sh)
    colours = []
    for eye in ([0.0, 0.0, -4.0], [4.0, 1.0, 0.5], [-2.0, 3.0, 2.0]):
        eye_t = torch.tensor(eye, dtype=F64)
        up = torch.tensor([0.0, -1.0, 0.3], dtype=F64)
        viewmat = look_at_viewmat(eye_t, torch.tensor(mean, dtype=F64), up=up)
        K = torch.tensor([[[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]]], dtype=F64)
        out = render(g, _cams(viewmat[None], K, 16, 16), backend="torch", sh_degree=3)
        a = out.alpha[0, 8, 8, 0].item()
        colour = out.image[0, 8, 8].numpy() / a
        expected = npref.sh_deg3_color(mean - np.array(eye), sh[0])
        np.testing.assert_allclose(colour, expected, rtol=1e-9, atol=1e-12)
        colours.append(colour)
    assert np.abs(colours[0] - colours[1]).max() > 0.05


def test_batch_of_cameras_equals_single_renders():
    from sync4dgs.render.parity import RandomSceneConfig, random_scene

    g, cams = random_scene(RandomSceneConfig(n_gaussians=300, width=40, height=30, n_cameras=3, seed=4),
                           dtype=F64)
    bg = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=F64)
    batch = render(g, cams, backend="torch", sh_degree=3, background=bg)
    for c in range(3):
        single = render(g, RenderCameras(cams.viewmats[c:c + 1], cams.Ks[c:c + 1], 40, 30), backend="torch",
                        sh_degree=3, background=bg[c])
        torch.testing.assert_close(batch.image[c:c + 1], single.image, rtol=0, atol=1e-13)
        torch.testing.assert_close(batch.depth[c:c + 1], single.depth, rtol=0, atol=1e-11)
        torch.testing.assert_close(batch.radii[c:c + 1], single.radii)


@pytest.mark.parametrize("antialiased", [False, True])
def test_random_scene_matches_independent_numpy_splatter(npref, antialiased):
    from sync4dgs.render.parity import RandomSceneConfig, random_scene

    g, cams = random_scene(RandomSceneConfig(n_gaussians=250, width=37, height=29, sh_degree=None, seed=7,
                                             footprint_px=2.5), dtype=F64)
    bg = [0.2, 0.1, 0.4]
    out = render(g, cams, backend="torch", background=bg, antialiased=antialiased)
    img, alpha, depth = npref.render(g.means.numpy(), g.quats.numpy(), g.scales.numpy(), g.opacities.numpy(),
                                     g.colors.numpy(), cams.viewmats[0].numpy(), cams.Ks[0].numpy(), 37, 29,
                                     background=bg, antialiased=antialiased)
    assert alpha.max() > 0.9  # the scene is not trivially empty
    np.testing.assert_allclose(out.image[0].numpy(), img, rtol=0, atol=1e-11)
    np.testing.assert_allclose(out.alpha[0, ..., 0].numpy(), alpha, rtol=0, atol=1e-11)
    np.testing.assert_allclose(out.depth[0, ..., 0].numpy(), depth, rtol=1e-9, atol=1e-9)


def test_early_termination_is_exclusive_at_transmittance_1e4(npref):
    # 3 stacked near-opaque Gaussians (alpha ~0.995 at the centre pixel): T goes 1 -> 5e-3, then the second's
    # next_T ~2.5e-5 <= 1e-4 stops the pixel BEFORE it (exclusive): only the first contributes there.
    viewmat, K = npref.identity_camera(16, 16, focal=20.0)
    zs = [3.0, 4.0, 5.0]
    g = _gaussians([[0.0, 0.0, z] for z in zs], [[1.0, 0, 0, 0]] * 3, [[5.0, 5.0, 5.0]] * 3, [0.995] * 3,
                   [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    out = render(g, _cams(viewmat, K, 16, 16), backend="torch")
    img, alpha, _ = npref.render(g.means.numpy(), g.quats.numpy(), g.scales.numpy(), g.opacities.numpy(),
                                 g.colors.numpy(), viewmat[0].numpy(), K[0].numpy(), 16, 16)
    np.testing.assert_allclose(out.image[0].numpy(), img, atol=1e-12)
    centre = out.image[0, 8, 8].numpy()
    assert centre[0] > 0.99 and centre[1] == 0.0 and centre[2] == 0.0
    assert out.alpha[0, 8, 8, 0].item() == pytest.approx(centre[0], rel=1e-12)


def test_tiling_chunking_and_blocking_do_not_change_the_result():
    from sync4dgs.render.backends.torch_raster import RasterConfig
    from sync4dgs.render.backends.torch_ref import render_torch
    from sync4dgs.render.parity import RandomSceneConfig, random_scene

    results = []
    # default (forward intermediates kept for backward); 16 px tiles; chunks so small that long tile lists are
    # split over pixel ranges; tiny blocks; intermediates recomputed in backward (keep_pairs=0)
    for cfg in (None, RasterConfig(tile_size=16), RasterConfig(tile_size=8, chunk_elements=12000),
                RasterConfig(tile_size=4, block_entries=7), RasterConfig(keep_pairs=0),
                RasterConfig(tile_size=4, block_entries=7, keep_pairs=0)):
        g, cams = random_scene(RandomSceneConfig(n_gaussians=300, width=30, height=22, n_cameras=2, seed=3,
                                                 opacity_range=(0.5, 0.99)), dtype=F64, requires_grad=True)
        out = render_torch(g, cams, sh_degree=3, backgrounds=torch.tensor([[0.1, 0.2, 0.3]] * 2, dtype=F64),
                           near=0.01, far=1e10, antialiased=False, eps2d=0.3, absgrad=False, packed=False,
                           render_depth=True, config=cfg)
        (out.image.sum() + 0.1 * out.depth.sum()).backward()
        results.append((out, [g.means.grad, g.scales.grad, g.opacities.grad, g.colors.grad]))
    ref_out, ref_grads = results[0]
    assert ref_out.alpha.max() > 0.999  # saturated pixels: early stop is exercised
    for out, grads in results[1:]:
        torch.testing.assert_close(out.image, ref_out.image, rtol=0, atol=1e-12)
        torch.testing.assert_close(out.depth, ref_out.depth, rtol=1e-10, atol=1e-10)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_projection_matches_gsplat_pure_torch_projection():
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    from sync4dgs.render.parity import RandomSceneConfig, random_scene

    g, cams = random_scene(RandomSceneConfig(n_gaussians=400, width=64, height=48, n_cameras=2, seed=8),
                           dtype=F64)
    for aa in (False, True):
        ours = project_gaussians(g.means, g.quats, g.scales, g.opacities, cams.viewmats, cams.Ks, 64, 48,
                                 eps2d=0.3, near=0.01, far=1e10, antialiased=aa)
        covars, _ = _quat_scale_to_covar_preci(g.quats, g.scales, compute_preci=False)
        radii, means2d, depths, conics, comp = _fully_fused_projection(
            g.means, covars, cams.viewmats, cams.Ks, 64, 48, eps2d=0.3, calc_compensations=aa)
        vis = (ours.radii > 0).all(-1)
        assert vis.sum() > 700
        assert ((radii > 0).all(-1) | ~vis).all()  # gsplat's fixed 3.33-sigma boxes are never smaller
        torch.testing.assert_close(ours.means2d[vis], means2d[vis], rtol=1e-12, atol=1e-10)
        torch.testing.assert_close(ours.conics[vis], conics[vis], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.depths, depths, rtol=1e-12, atol=1e-12)
        if aa:
            torch.testing.assert_close(ours.opacities[vis], (g.opacities[None] * comp)[vis], rtol=1e-10,
                                       atol=1e-12)
