"""CPU-side parts of the parity benchmark: scene generator and difference statistics."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.render import render
from sync4dgs.render.parity import RandomSceneConfig, grad_diff_stats, image_diff_stats, random_scene


def test_random_scene_is_deterministic_and_well_formed():
    cfg = RandomSceneConfig(n_gaussians=500, width=64, height=48, n_cameras=3, sh_degree=2, seed=9)
    g1, c1 = random_scene(cfg)
    g2, c2 = random_scene(cfg)
    for name in ("means", "quats", "scales", "opacities", "colors"):
        assert torch.equal(getattr(g1, name), getattr(g2, name))
    assert g1.colors.shape == (500, 9, 3) and c1.viewmats.shape == (3, 4, 4) and c1.Ks.shape == (3, 3, 3)
    assert (g1.scales > 0).all() and ((g1.opacities > 0) & (g1.opacities < 1)).all()
    rot = c1.viewmats[:, :3, :3]
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-6, rtol=0)
    out = render(g1, c1, sh_degree=2)
    assert out.visible.float().mean() > 0.95  # the cloud sits inside every view
    assert 0.3 < out.alpha.mean() < 1.0
    g3, _ = random_scene(RandomSceneConfig(n_gaussians=500, seed=10))
    assert not torch.equal(g1.means, g3.means)


def test_random_scene_footprint_controls_screen_size():
    small = render(*random_scene(RandomSceneConfig(n_gaussians=300, footprint_px=1.0)), sh_degree=3)
    large = render(*random_scene(RandomSceneConfig(n_gaussians=300, footprint_px=4.0)), sh_degree=3)
    ratio = large.radii.float().mean() / small.radii.float().mean()
    assert 2.0 < ratio < 5.0


def test_image_diff_stats_on_known_differences():
    a = torch.zeros(1, 10, 100, 3)
    b = a.clone()
    b[0, 0, :3, 0] = torch.tensor([0.5, 2e-3, 1e-4])
    s = image_diff_stats(a, b, tol=1e-3)
    assert s["max"] == pytest.approx(0.5)
    assert s["frac_above_tol"] == pytest.approx(2 / 3000)
    assert s["mean"] == pytest.approx((0.5 + 2e-3 + 1e-4) / 3000, rel=1e-5)
    assert s["p999"] < 1e-6  # only 3 of 3000 values differ: below the 99.9th percentile
    b[0, 1, :6, 1] = 0.25  # now 9 of 3000 (0.3 %) differ
    assert image_diff_stats(a, b)["p999"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        image_diff_stats(a, b[..., :2])


def test_grad_diff_stats_on_known_differences():
    ref = torch.ones(100, 3)
    test = ref.clone()
    test[:10] *= 1.1  # 10 rows with 10/110 relative error
    test[99] = 0.0  # one row with relative error 1
    s = grad_diff_stats(ref, test)
    assert s["rows"] == 100
    assert s["median"] == 0.0
    assert s["max"] == pytest.approx(1.0)
    assert s["p90"] == pytest.approx(0.1 / 1.1, rel=1e-5)
    zero_rows = torch.zeros(5, 2)
    tiny = grad_diff_stats(torch.cat([ref[:, :2], zero_rows]), torch.cat([ref[:, :2], zero_rows]))
    assert tiny["rows"] == 100 and tiny["max"] == 0.0 and tiny["global"] == 0.0


def test_compare_runs_reports_float32_vs_float64_reference_differences():
    from sync4dgs.render.parity import compare_runs, run_backend

    cfg = RandomSceneConfig(n_gaussians=400, width=40, height=30, n_cameras=2, seed=2)
    ref = run_backend(cfg, "torch", device="cpu", dtype=torch.float64, background=(0.1, 0.2, 0.3))
    test = run_backend(cfg, "torch", device="cpu", dtype=torch.float32, background=(0.1, 0.2, 0.3),
                       packed=True)
    stats = compare_runs(ref, test, depth_scale=cfg.cam_distance)
    assert 0 < stats["image"]["max"] < 1e-4
    assert stats["image"]["frac_above_tol"] == 0.0
    assert set(stats["grads"]) == {"means", "quats", "scales", "opacities", "colors", "means2d"}
    for name, s in stats["grads"].items():
        assert s["rows"] > 100 and s["median"] < 1e-4, (name, s)
    assert stats["visible_mismatch_frac"] < 0.01


def test_parity_script_dry_run_on_cpu(tmp_path, capsys):
    """benchmarks/render_parity.py end to end with the reference on both sides (the GPU run uses gsplat)."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "render_parity.py"
    spec = importlib.util.spec_from_file_location("render_parity_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "parity.json"
    rc = module.main(["--out", str(out), "--sizes", "150", "--res", "24x16", "--device", "cpu",
                      "--test-backend", "torch"])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["total"] == 3 and report["passed"] == 3  # classic, antialiased, packed
    assert {c["mode"] for c in report["cases"]} == {"classic", "antialiased"}
    assert "PASS" in capsys.readouterr().out
