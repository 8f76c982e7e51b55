"""Per-camera pose / focal refinement (sync4dgs.train.camrefine): the exp map, the focal folding, gradients,
a perturbed camera pulled back to the truth on the tiny scene, exact resume, saved file and config errors."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from sync4dgs.data.points import load_points
from sync4dgs.data.scene import load_scene
from sync4dgs.errors import ConfigError
from sync4dgs.model.io import load_trained
from sync4dgs.render import RenderCameras, render
from sync4dgs.render.conventions import look_at_viewmat, rgb_to_sh_dc
from sync4dgs.render.types import Gaussians
from sync4dgs.train import load_config, train
from sync4dgs.model.folder import REFINED_CAMERAS_FILE
from sync4dgs.train.camrefine import (CameraDeltas, CameraRefiner, build_camera_refiner,
                                      fold_focal_into_viewmat, gauge_camera_index, scale_focal, so3_exp)
from sync4dgs.train.checkpoint import latest_checkpoint, load_checkpoint
from sync4dgs.train.config import CameraConfig
from sync4dgs.train.setup import build_session

TRUE_OFFSETS = {"cam00": 0.0, "cam01": 0.1, "cam02": -0.1, "cam03": 0.2}
REFINE = {"camera.refine_pose": "true", "camera.refine_focal": "true", "camera.start_iter": "2",
          "camera.pose_lr": "2e-3", "camera.focal_lr": "2e-3"}


def rodrigues64(w: np.ndarray) -> np.ndarray:
    """Float64 reference: R = cos t I + sin t [k]x + (1 - cos t) k k^T."""
    t = np.linalg.norm(w)
    if t == 0:
        return np.eye(3)
    k = w / t
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return math.cos(t) * np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * np.outer(k, k)


# ------------------------------------------------------------------------------------------ exp map
def test_exp_map_is_identity_at_zero_and_matches_rodrigues():
    assert torch.equal(so3_exp(torch.zeros(3)), torch.eye(3))
    rng = np.random.default_rng(3)
    for norm in [1e-9, 1e-5, 3e-3, 0.0099, 0.0101, 0.3, 1.0, 2.5, 3.1]:
        w = rng.normal(size=3)
        w *= norm / np.linalg.norm(w)
        w32 = torch.tensor(w, dtype=torch.float32)
        R = so3_exp(w32)
        assert R.dtype == torch.float32
        np.testing.assert_allclose(R.double().numpy(), rodrigues64(w32.double().numpy()), atol=5e-7,
                                   err_msg=f"|w|={norm}")
        R64 = so3_exp(torch.tensor(w)).numpy()
        np.testing.assert_allclose(R64, rodrigues64(w), atol=1e-14, err_msg=f"|w|={norm}")
    batch = so3_exp(torch.tensor(rng.normal(size=(5, 2, 3))))
    assert batch.shape == (5, 2, 3, 3)
    torch.testing.assert_close(batch @ batch.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(5, 2, 3, 3))


def test_exp_map_gradients_are_finite_and_correct_on_both_branches():
    for w in ([0.0, 0.0, 0.0], [1e-4, -2e-4, 5e-5], [0.3, -0.2, 0.9]):
        x = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(so3_exp, (x,), eps=1e-7, atol=1e-6)
    x = torch.zeros(3, requires_grad=True)
    so3_exp(x)[2, 1].backward()              # d R / d w at 0 = hat(.): R[2, 1] = w_x
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 0.0, 0.0]))


# ------------------------------------------------------------------------------------------ rendering
def _scene_gaussians() -> Gaussians:
    g = torch.Generator().manual_seed(0)
    n = 60
    means = torch.rand(n, 3, generator=g) * torch.tensor([3.0, 0.5, 2.0]) - torch.tensor([1.5, -0.5, 1.0])
    rgb = torch.rand(n, 3, generator=g)
    return Gaussians(means=means, quats=torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                     scales=torch.full((n, 3), 0.15), opacities=torch.full((n,), 0.9),
                     colors=rgb_to_sh_dc(rgb)[:, None, :])


def _camera() -> tuple[torch.Tensor, torch.Tensor]:
    vm = look_at_viewmat(torch.tensor([0.4, -3.5, 0.3], dtype=torch.float64),
                         torch.tensor([0.0, 0.0, 0.1], dtype=torch.float64)).float()
    K = torch.tensor([[40.0, 0, 17.0], [0, 41.0, 11.5], [0, 0, 1]])
    return vm, K


def _img(g, vm, K):
    return render(g, RenderCameras(vm[None], K[None], 32, 24), backend="torch", sh_degree=0,
                  background=torch.zeros(3)).image[0]


def test_focal_folded_into_the_viewmat_renders_and_differentiates_like_a_scaled_K():
    g, (vm, K) = _scene_gaussians(), _camera()
    target = _img(g, vm, K).detach() * 0.9
    grads = []
    for fold in (True, False):
        log_s = torch.tensor(0.03, requires_grad=True)
        s = log_s.exp()
        img = _img(g, fold_focal_into_viewmat(vm, s), K) if fold else _img(g, vm, scale_focal(K, s))
        (img - target).abs().mean().backward()
        grads.append((img.detach(), log_s.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=2e-6, rtol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-3)
    assert grads[0][1].abs() > 0


def test_refined_camera_is_calibrated_at_zero_and_gradients_reach_only_its_deltas():
    g, (vm, K) = _scene_gaussians(), _camera()
    vms, Ks = torch.stack([vm, vm, vm]), torch.stack([K, K, K])
    deltas = CameraDeltas(vms, Ks, gauge_index=0)
    ref = CameraRefiner(deltas, CameraConfig(refine_pose=True, refine_focal=True, start_iter=5), ["a", "b", "c"],
                        [(32, 24)] * 3)
    cam = ref.camera(1, step=3)                        # before start_iter: calibrated, no graph
    assert torch.equal(cam.viewmats[0], vm) and torch.equal(cam.Ks[0], K) and not cam.viewmats.requires_grad
    for k in (0, 1):
        cam = ref.camera(k, step=6)
        assert torch.equal(cam.viewmats[0], vm)         # zero deltas: exactly the calibrated camera
        out = render(g, cam, backend="torch", sh_degree=0, background=torch.zeros(3))
        (out.image - 0.3).abs().mean().backward()
    # camera 0 is the gauge: its pose gets no gradient, its focal does; camera 1 gets all; camera 2 nothing
    assert torch.all(deltas.rotations.grad[0] == 0) and torch.all(deltas.translations.grad[0] == 0)
    assert deltas.log_focal.grad[0] != 0
    assert deltas.rotations.grad[1].abs().sum() > 0 and deltas.translations.grad[1].abs().sum() > 0
    assert deltas.log_focal.grad[1] != 0
    assert torch.all(deltas.rotations.grad[2] == 0) and deltas.log_focal.grad[2] == 0
    vm1, K1 = deltas.refined(1)
    assert torch.equal(vm1, vm) and torch.equal(K1, K)


def test_refined_pose_is_rigid_and_focal_keeps_the_principal_point():
    vm, K = _camera()
    deltas = CameraDeltas(vm[None], K[None], gauge_index=None)
    with torch.no_grad():
        deltas.rotations[0] = torch.tensor([0.01, -0.02, 0.005])
        deltas.translations[0] = torch.tensor([0.05, 0.0, -0.02])
        deltas.log_focal[0] = math.log(1.02)
    v, k = deltas.refined(0)
    R = v[:3, :3]
    torch.testing.assert_close(R @ R.T, torch.eye(3), atol=1e-6, rtol=0)
    assert abs(torch.linalg.det(R) - 1) < 1e-6
    torch.testing.assert_close(k[:2, 2], K[:2, 2])
    torch.testing.assert_close(k[0, 0], K[0, 0] * 1.02)
    Rd = so3_exp(deltas.rotations[0].detach())
    torch.testing.assert_close(R, Rd @ vm[:3, :3])
    torch.testing.assert_close(v[:3, 3], Rd @ vm[:3, 3] + deltas.translations[0].detach())


def test_gauge_camera_is_the_reference_when_it_trains_else_the_first_training_camera():
    assert gauge_camera_index(["a", "b", "c"], "b") == 1
    assert gauge_camera_index(["b", "c"], "a") == 0


# ------------------------------------------------------------------------------------------ training
def _perturbed_scene(scene, root, cam_name: str, degrees: float, focal_scale: float):
    shutil.copytree(scene.root, root)
    s = load_scene(root)
    cam = s.camera(cam_name)
    axis = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
    Rd = so3_exp(torch.tensor(axis * math.radians(degrees))).numpy()
    cam.R, cam.t = Rd @ cam.R, Rd @ cam.t
    cam.K = cam.K.copy()
    cam.K[0, 0] *= focal_scale
    cam.K[1, 1] *= focal_scale
    s.save()
    return s


def _errors(R, t, K, true, points) -> tuple[float, float, float]:
    """(rotation error deg, relative focal error, mean reprojection error px of ``points``) against ``true``."""
    ang = math.degrees(math.acos(np.clip((np.trace(R @ true.R.T) - 1) / 2, -1, 1)))

    def proj(R_, t_, K_):
        x = K_ @ (R_ @ points.T + t_[:, None])
        return (x[:2] / x[2]).T
    px = np.linalg.norm(proj(R, t, K) - proj(true.R, true.t, true.K), axis=1).mean()
    return ang, abs(K[0, 0] / true.K[0, 0] - 1), float(px)


def test_perturbed_camera_moves_back_towards_the_truth(gaussian_scene, make_cfg, offsets_file, tmp_path):
    """cam02 calibrated 1 degree off and with a 1 % focal error; the scene's GT images are from the truth."""
    pert = _perturbed_scene(gaussian_scene, tmp_path / "scene", "cam02", 1.0, 1.01)
    offsets = offsets_file(tmp_path / "offsets.json", TRUE_OFFSETS)
    cfg = make_cfg({**REFINE, "moving.enabled": "false", "camera.start_iter": "20", "train.iterations": "150", "time.learn": "false",
                    "train.random_background": "false",     # the GT images have a black background
                    "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                    "densify.convert.enabled": "false"})
    train(pert.root, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    saved = json.loads((tmp_path / "m" / REFINED_CAMERAS_FILE).read_text())
    assert saved["iteration"] == 150 and saved["gauge_camera"] == "cam00"
    assert set(saved["cameras"]) == {"cam00", "cam01", "cam02", "cam03"}
    true, start = gaussian_scene.camera("cam02"), pert.camera("cam02")
    points = load_points(gaussian_scene.points_path).xyz
    before = _errors(start.R, start.t, start.K, true, points)
    d = saved["cameras"]["cam02"]
    after = _errors(np.array(d["R"]), np.array(d["t"]), np.array(d["K"]), true, points)
    assert after[0] < 0.8 * before[0], (before, after)            # rotation error (deg)
    assert after[1] < 0.5 * before[1], (before, after)            # focal error
    assert after[2] < 0.5 * before[2], (before, after)            # reprojection error (px)
    g = saved["cameras"]["cam00"]                                  # the gauge keeps its calibrated pose
    ref = gaussian_scene.camera("cam00")
    assert g["pose_fixed"] and g["delta"]["rotation_rad"] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(np.array(g["R"]), ref.R, atol=1e-6)
    np.testing.assert_allclose(np.array(g["t"]), ref.t, atol=1e-6)


def test_resume_with_refinement_is_exact(gaussian_scene, make_cfg, offsets_file, tmp_path):
    over = {**REFINE, "time.warmup_iterations": "3", "time.sync_every": "2", "guard.check_every": "4",
            "densify.static.refine_start_iter": "2", "densify.static.refine_every": "3",
            "densify.convert.start_iter": "1", "densify.convert.every": "5", "densify.convert.fraction": "0.1"}
    offsets = offsets_file(tmp_path / "offsets.json", {"cam00": 0.0, "cam01": 0.3, "cam02": -0.1, "cam03": 0.2})
    n = 8
    train(gaussian_scene.root, tmp_path / "full", make_cfg({**over, "train.iterations": str(2 * n)}),
          offsets_path=offsets, progress=False)
    train(gaussian_scene.root, tmp_path / "half", make_cfg({**over, "train.iterations": str(n)}),
          offsets_path=offsets, progress=False)
    ck = load_checkpoint(latest_checkpoint(tmp_path / "half"))
    assert {"deltas", "optimizer"} <= set(ck["callbacks"]["camera"])
    train(gaussian_scene.root, tmp_path / "half", make_cfg({**over, "train.iterations": str(2 * n)}),
          offsets_path=offsets, progress=False)
    a = json.loads((tmp_path / "full" / REFINED_CAMERAS_FILE).read_text())
    b = json.loads((tmp_path / "half" / REFINED_CAMERAS_FILE).read_text())
    assert a["iteration"] == b["iteration"] == 2 * n
    for name, cam in a["cameras"].items():
        for key in ("R", "t", "K"):
            np.testing.assert_allclose(cam[key], b["cameras"][name][key], rtol=0, atol=1e-7, err_msg=name)
    assert a["cameras"]["cam01"]["delta"]["rotation_deg"] > 0            # the deltas did learn
    ma, mb = load_trained(tmp_path / "full"), load_trained(tmp_path / "half")
    for k, v in ma.model.static.items():
        torch.testing.assert_close(v, mb.model.static[k], rtol=1e-6, atol=1e-7, msg=k)


def test_refinement_off_uses_the_calibrated_cameras(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg({"time.align": "false"}), progress=False)
    assert s.feature(CameraRefiner) is None and s.render_camera(1, 10) is s.cameras[1]
    assert not any(cb.name == "camera" for cb in s.callbacks)


def test_held_out_reference_fixes_the_first_training_camera(held_out_reference_scene, make_cfg, tmp_path):
    s = build_session(held_out_reference_scene, tmp_path / "m",
                      make_cfg({"time.align": "false", "camera.refine_pose": "true"}), progress=False)
    refiner = s.feature(CameraRefiner)
    assert refiner.names == ["cam01", "cam02", "cam03"]
    assert refiner.deltas.gauge_index == 0
    assert not refiner.deltas.log_focal.requires_grad       # focal not refined


# ------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("over, match", [
    ({"camera.stop_iter": "100", "camera.start_iter": "100"}, "stop_iter"),
    ({"camera.pose_lr": "-1e-4"}, "pose_lr"),
    ({"camera.start_iter": "-1"}, "start_iter"),
    ({"camera.refine_pose": "maybe"}, "boolean"),
    ({"camera.rotation_lr": "1e-4"}, "unknown config key"),
])
def test_config_errors(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, over)


def test_builder_refuses_when_nothing_is_refined():
    vm, K = _camera()
    with pytest.raises(ConfigError, match="refine_pose"):
        build_camera_refiner(CameraConfig(), ["a"], "a", [RenderCameras(vm[None], K[None], 32, 24)], 1.0, None,
                             [], 1000)


def test_defaults_start_before_time_warmup():
    cfg = load_config(None)
    assert not cfg.camera.enabled
    assert cfg.camera.start_iter <= cfg.time.warmup_iterations


@pytest.mark.gpu
def test_gsplat_gradients_of_the_deltas_match_the_reference_renderer():
    g, (vm, K) = _scene_gaussians(), _camera()
    target = _img(g, vm, K).detach() * 0.9
    grads = {}
    for backend in ("torch", "gsplat"):
        dev = torch.device("cuda")
        deltas = CameraDeltas(vm[None].to(dev), K[None].to(dev), gauge_index=None)
        with torch.no_grad():
            deltas.rotations[0] = torch.tensor([0.01, -0.005, 0.002], device=dev)
            deltas.log_focal[0] = 0.02
        gd = Gaussians(*(getattr(g, f).to(dev) for f in ("means", "quats", "scales", "opacities", "colors")))
        img = render(gd, RenderCameras(deltas.render_viewmat(0)[None], K[None].to(dev), 32, 24), backend=backend,
                     sh_degree=0, background=torch.zeros(3, device=dev)).image[0]
        (img - target.to(dev)).abs().mean().backward()
        grads[backend] = torch.cat([deltas.rotations.grad[0], deltas.translations.grad[0],
                                    deltas.log_focal.grad]).cpu()
    torch.testing.assert_close(grads["gsplat"], grads["torch"], rtol=0.05, atol=1e-4)
