"""render(): backend selection, capability probe, input validation, output layout."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sync4dgs.errors import BackendUnavailableError
from sync4dgs.render import Gaussians, RenderCameras, has_cuda_backend, render
from sync4dgs.render.parity import RandomSceneConfig, random_scene


def _scene(**kw):
    cfg = RandomSceneConfig(n_gaussians=120, width=24, height=18, **kw)
    return random_scene(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_probe_is_false_on_cpu_and_never_touches_the_gsplat_jit_loader():
    assert has_cuda_backend() is False
    assert has_cuda_backend() is False  # cached
    # in a fresh interpreter (other tests may import gsplat modules): the JIT loader module is never imported
    code = ("import sys; from sync4dgs.render import has_cuda_backend, render; "
            "assert has_cuda_backend() is False; "
            "assert 'gsplat.cuda._backend' not in sys.modules, 'probe imported the gsplat JIT loader'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_gsplat_backend_on_cpu_raises_clear_error_instead_of_falling_back():
    g, cams = _scene()
    with pytest.raises(BackendUnavailableError, match="needs CUDA tensors"):
        render(g, cams, backend="gsplat", sh_degree=3)


def test_auto_on_cpu_uses_the_torch_reference():
    g, cams = _scene()
    out = render(g, cams, sh_degree=3)
    assert out.info["backend"] == "torch"
    torch.testing.assert_close(out.image, render(g, cams, backend="torch", sh_degree=3).image)


def test_unknown_backend_is_rejected():
    g, cams = _scene()
    with pytest.raises(ValueError, match="backend must be one of"):
        render(g, cams, backend="cuda", sh_degree=3)


def test_output_shapes_and_info_follow_the_gsplat_strategy_format():
    g, cams = _scene(n_cameras=2)
    g.means.requires_grad_(True)
    out = render(g, cams, sh_degree=3)
    assert out.image.shape == (2, 18, 24, 3) and out.alpha.shape == (2, 18, 24, 1)
    assert out.depth.shape == (2, 18, 24, 1)
    assert out.means2d.shape == (2, 120, 2) and out.radii.shape == (2, 120, 2)
    assert out.radii.dtype == torch.int32
    info = out.info
    assert info["means2d"] is out.means2d and info["radii"] is out.radii
    assert info["width"] == 24 and info["height"] == 18 and info["n_cameras"] == 2
    assert info["gaussian_ids"] is None
    out.image.sum().backward()
    assert out.means2d.grad is not None and out.means2d.grad.shape == (2, 120, 2)
    assert out.visible.shape == (2, 120) and out.visible.any()


def test_render_depth_false_returns_no_depth_and_same_image():
    g, cams = _scene()
    with_depth = render(g, cams, sh_degree=3)
    no_depth = render(g, cams, sh_degree=3, render_depth=False)
    assert no_depth.depth is None
    torch.testing.assert_close(no_depth.image, with_depth.image)
    torch.testing.assert_close(no_depth.alpha, with_depth.alpha)


def test_lower_sh_degree_uses_only_the_first_bases():
    g, cams = _scene()
    trimmed = Gaussians(g.means, g.quats, g.scales, g.opacities, g.colors[:, :4].clone())
    torch.testing.assert_close(render(g, cams, sh_degree=1).image, render(trimmed, cams, sh_degree=1).image)


def test_empty_view_renders_background_and_keeps_the_graph():
    g, cams = _scene()
    g.means.requires_grad_(True)
    far_away = Gaussians(g.means + 100.0, g.quats, g.scales, g.opacities, g.colors)
    out = render(far_away, cams, sh_degree=3, background=[0.5, 0.25, 1.0])
    assert out.alpha.max().item() == 0.0
    torch.testing.assert_close(out.image[0, 3, 4], torch.tensor([0.5, 0.25, 1.0]))
    out.image.sum().backward()  # must not raise: zero gradients, as with gsplat
    assert g.means.grad is not None and g.means.grad.abs().sum().item() == 0.0


@pytest.mark.parametrize("mutate,match", [
    (lambda g, c: (Gaussians(g.means[:, :2], g.quats, g.scales, g.opacities, g.colors), c, 3), "means"),
    (lambda g, c: (Gaussians(g.means, g.quats[:-1], g.scales, g.opacities, g.colors), c, 3), "quats"),
    (lambda g, c: (Gaussians(g.means, g.quats, g.scales, g.opacities[:, None], g.colors), c, 3), "opacities"),
    (lambda g, c: (g, c, None), "RGB"),
    (lambda g, c: (Gaussians(g.means, g.quats, g.scales, g.opacities, g.colors[:, :4]), c, 2), "SH"),
    (lambda g, c: (g, c, 4), "SH degree"),
    (lambda g, c: (g, RenderCameras(c.viewmats[0], c.Ks, c.width, c.height), 3), "viewmats"),
    (lambda g, c: (g, RenderCameras(c.viewmats, c.Ks[:, :2], c.width, c.height), 3), "Ks"),
    (lambda g, c: (g, RenderCameras(c.viewmats, c.Ks, 0, c.height), 3), "image size"),
    (lambda g, c: (Gaussians(g.means, g.quats.double(), g.scales, g.opacities, g.colors), c, 3), "dtype"),
])
def test_bad_inputs_raise_value_errors_naming_the_field(mutate, match):
    g, cams = _scene()
    g2, cams2, deg = mutate(g, cams)
    with pytest.raises(ValueError, match=match):
        render(g2, cams2, sh_degree=deg)


def test_background_shapes():
    g, cams = _scene(n_cameras=2)
    a = render(g, cams, sh_degree=3, background=torch.tensor([0.2, 0.4, 0.6]))
    b = render(g, cams, sh_degree=3, background=torch.tensor([[0.2, 0.4, 0.6]] * 2))
    torch.testing.assert_close(a.image, b.image)
    with pytest.raises(ValueError, match="background"):
        render(g, cams, sh_degree=3, background=torch.zeros(3, 3))


def test_gsplat_call_matches_the_installed_gsplat_signature():
    import inspect

    import gsplat

    from sync4dgs.render.backends.gsplat_cuda import rasterization_kwargs

    g, cams = _scene(n_cameras=2)
    for depth, aa, packed in ((True, False, False), (False, True, True)):
        kw = rasterization_kwargs(g, cams, sh_degree=3, backgrounds=torch.zeros(2, 3), near=0.1, far=50.0,
                                  antialiased=aa, eps2d=0.3, absgrad=True, packed=packed, render_depth=depth)
        bound = inspect.signature(gsplat.rasterization).bind(**kw)  # raises TypeError on a wrong name
        assert bound.arguments["render_mode"] == ("RGB+ED" if depth else "RGB")
        assert bound.arguments["rasterize_mode"] == ("antialiased" if aa else "classic")
        assert bound.arguments["packed"] is packed and bound.arguments["near_plane"] == 0.1


def test_zero_gaussians_render_the_background():
    g, cams = _scene()
    empty = Gaussians(g.means[:0], g.quats[:0], g.scales[:0], g.opacities[:0], g.colors[:0])
    out = render(empty, cams, sh_degree=3, background=[0.1, 0.2, 0.3])
    torch.testing.assert_close(out.image, torch.tensor([0.1, 0.2, 0.3]).expand(1, 18, 24, 3))
    assert out.radii.shape == (1, 0, 2) and out.depth.abs().max().item() == 0.0
    assert render(empty, cams, sh_degree=3, packed=True).visible.shape == (1, 0)
