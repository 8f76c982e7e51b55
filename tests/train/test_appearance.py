"""Per-camera appearance compensation: the colour-map maths, the gauge, and training on a scene where one camera
records darker, colour-shifted frames (it must learn that camera's gain; the others stay near the identity)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from sync4dgs.data.scene import load_scene
from sync4dgs.eval import layout
from sync4dgs.eval.render_views import load_color_maps
from sync4dgs.model.folder import APPEARANCE_FILE
from sync4dgs.errors import DataFormatError
from sync4dgs.train import train
from sync4dgs.train.appearance import AppearanceLearner, CameraAppearance, apply_color_affine
from sync4dgs.train.config import AppearanceConfig

GAIN = np.array([0.6, 0.75, 0.9])        # cam02's recorded colours = true colours x GAIN


def test_color_affine_matches_float64_and_has_exact_gradients():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(5, 4, 3, generator=g, dtype=torch.float64)
    log_gain = 0.2 * torch.randn(3, generator=g, dtype=torch.float64)
    bias = 0.05 * torch.randn(3, generator=g, dtype=torch.float64)
    want = img.numpy() * np.exp(log_gain.numpy()) + bias.numpy()
    np.testing.assert_allclose(apply_color_affine(img, log_gain, bias).numpy(), want, rtol=1e-12)
    assert torch.autograd.gradcheck(apply_color_affine, (img.requires_grad_(), log_gain.requires_grad_(),
                                                         bias.requires_grad_()))


def test_gauge_camera_stays_the_identity_under_adam():
    app = CameraAppearance(3, gauge_index=1)
    opt = torch.optim.Adam(app.parameters(), lr=0.1)
    img = torch.full((2, 2, 3), 0.5)
    for _ in range(5):
        loss = sum(((app(img, k) - 0.2) ** 2).mean() for k in range(3))
        opt.zero_grad()
        loss.backward()
        opt.step()
    log_gain, bias = app.maps(1)
    assert torch.equal(log_gain, torch.zeros(3)) and torch.equal(bias, torch.zeros(3))
    assert torch.equal(app(img, 1), img)
    assert app.maps(0)[0].abs().sum() > 0          # the others moved


def test_centred_gauge_keeps_mean_log_gain_and_bias_at_zero():
    app = CameraAppearance(3, gauge_index=None)
    with torch.no_grad():
        app.log_gain.copy_(torch.tensor([[0.3, 0.1, 0.0], [0.1, -0.2, 0.4], [0.5, 0.4, 0.2]]))
        app.bias.copy_(torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.02, 0.0], [0.05, 0.0, 0.01]]))
    gains = torch.stack([app.maps(k)[0] for k in range(3)])
    biases = torch.stack([app.maps(k)[1] for k in range(3)])
    torch.testing.assert_close(gains.sum(0), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(biases.sum(0), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(gains[1] - gains[0], torch.tensor([-0.2, -0.3, 0.4]))   # differences are kept


def test_learner_before_start_iter_gives_no_gradient_and_does_not_step():
    app = CameraAppearance(2, gauge_index=0)
    learner = AppearanceLearner(app, AppearanceConfig(enabled=True, start_iter=10, lr=0.1), ["a", "b"])
    img = torch.rand(3, 3, 3, requires_grad=True)
    out = learner.apply(img, 1, step=5)
    out.sum().backward()
    assert app.log_gain.grad is None and torch.equal(out, img)


def _darkened_scene(src, dst):
    shutil.copytree(src.root, dst)
    for png in sorted((dst / "frames" / "cam02").glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB).astype(np.float64)
        out = np.clip(rgb * GAIN + 0.5, 0, 255).astype(np.uint8)
        cv2.imwrite(str(png), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    return load_scene(dst)


@pytest.fixture(scope="module")
def darkened(gaussian_scene, tmp_path_factory):
    return _darkened_scene(gaussian_scene, tmp_path_factory.mktemp("dark") / "scene")


def _cfg(make_cfg, enabled: bool):
    return make_cfg({"train.iterations": "600", "appearance.enabled": str(enabled).lower(),
                     "appearance.start_iter": "30", "appearance.lr": "0.01", "time.learn": "false",
                     "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                     "densify.convert.enabled": "false"})


def test_training_learns_the_darker_cameras_gain(darkened, make_cfg, tmp_path):
    gt = darkened.gt_sync_path
    res = train(darkened.root, tmp_path / "on", _cfg(make_cfg, True), offsets_path=gt, progress=False)
    maps = json.loads((tmp_path / "on" / APPEARANCE_FILE).read_text())
    assert maps["gauge_camera"] == "cam00" and maps["iteration"] == res.iteration
    gains = {n: np.array(m["gain"]) for n, m in maps["cameras"].items()}
    np.testing.assert_array_equal(gains["cam00"], np.ones(3))
    np.testing.assert_allclose(gains["cam02"], GAIN, atol=0.05)
    for name in ("cam01", "cam03"):
        np.testing.assert_allclose(gains[name], np.ones(3), atol=0.1)
    # eval renders training cameras through their maps (and reads the file without importing the trainer)
    cmaps = load_color_maps(tmp_path / "on")
    np.testing.assert_allclose(cmaps["cam02"][0], gains["cam02"])


def test_without_compensation_the_darker_camera_spoils_the_others(darkened, make_cfg, tmp_path):
    """Same run without appearance: the model averages cam02's colours into the shared colours, so the cameras
    that recorded the true colours fit worse than with compensation."""
    from sync4dgs.eval.image_eval import evaluate_split_images
    from sync4dgs.eval.render_views import render_model

    psnr = {}
    for on in (True, False):
        m = tmp_path / ("on" if on else "off")
        train(darkened.root, m, _cfg(make_cfg, on), offsets_path=darkened.gt_sync_path, progress=False)
        render_model(m, darkened.root, splits=("train",), device="cpu", progress=False, write_videos=False)
        per_cam = evaluate_split_images(layout.split_dir(m, "train", 600), use_flip=False,
                                        progress=False)["per_camera"]
        psnr[on] = {c: v["psnr"] for c, v in per_cam.items()}
    true_colour = ("cam00", "cam01", "cam03")
    gain_db = np.mean([psnr[True][c] - psnr[False][c] for c in true_colour])
    assert gain_db > 0.15, psnr
    info = json.loads((layout.split_dir(tmp_path / "on", "train", 600) / layout.RENDER_INFO_FILE).read_text())
    assert "color_map" in info["cameras"]["cam02"]


def test_bad_appearance_file_is_a_clear_error(tmp_path):
    (tmp_path / APPEARANCE_FILE).write_text(json.dumps({"cameras": {"cam01": {"gain": [1, 2]}}}))
    with pytest.raises(DataFormatError, match="appearance"):
        load_color_maps(tmp_path)
    assert load_color_maps(tmp_path / "missing") is None


def test_gauge_is_the_reference_camera_when_it_trains_else_centred():
    from sync4dgs.train.appearance import build_appearance_learner

    cfg = AppearanceConfig(enabled=True)
    assert build_appearance_learner(cfg, ["a", "ref", "b"], "ref", torch.device("cpu"), None, []).appearance.gauge_index == 1
    assert build_appearance_learner(cfg, ["a", "b"], "ref", torch.device("cpu"), None, []).appearance.gauge_index is None


@pytest.mark.gpu
def test_training_learns_the_darker_cameras_gain_on_cuda(darkened, make_cfg, tmp_path):
    cfg = make_cfg({"train.iterations": "600", "appearance.enabled": "true", "appearance.start_iter": "30",
                    "appearance.lr": "0.01", "time.learn": "false", "densify.static.enabled": "false",
                    "densify.dynamic.enabled": "false", "densify.convert.enabled": "false",
                    "train.device": "cuda", "render.backend": "gsplat"})
    train(darkened.root, tmp_path / "m", cfg, offsets_path=darkened.gt_sync_path, progress=False)
    gains = {n: np.array(m["gain"]) for n, m in
             json.loads((tmp_path / "m" / APPEARANCE_FILE).read_text())["cameras"].items()}
    np.testing.assert_allclose(gains["cam02"], GAIN, atol=0.05)
    for name in ("cam01", "cam03"):
        np.testing.assert_allclose(gains[name], np.ones(3), atol=0.1)
