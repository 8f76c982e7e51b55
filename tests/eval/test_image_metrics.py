"""PSNR / SSIM / FLIP against scikit-image and float64 references; LPIPS-Alex loader structure."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from sync4dgs.errors import DataFormatError
from sync4dgs.eval.image_metrics import PSNR_CAP_DB, flip, psnr, psnr_from_mse, ssim
from sync4dgs.eval.lpips_alex import _CONVS, load_lpips_alex
from sync4dgs.eval.results import finite_json, write_strict_json


@pytest.fixture
def images():
    rng = np.random.default_rng(1)
    a = rng.random((37, 45, 3))
    # smooth-ish image so SSIM is not dominated by noise
    a = (a + np.roll(a, 1, 0) + np.roll(a, 1, 1)) / 3
    return a


def test_identical_images_give_cap_and_ssim_one(images):
    t = torch.from_numpy(images)
    assert psnr(t, t).item() == PSNR_CAP_DB
    assert ssim(t, t).item() == pytest.approx(1.0, abs=1e-12)
    assert flip(images, images) == 0.0
    # the cap is finite and survives strict JSON
    assert math.isfinite(psnr_from_mse(0.0).item())


def test_psnr_known_perturbation(images):
    # constant shift of 0.1 everywhere -> MSE 0.01 -> exactly 20 dB
    a = np.full((8, 8, 3), 0.4)
    b = a + 0.1
    assert psnr(torch.from_numpy(a), torch.from_numpy(b)).item() == pytest.approx(20.0, abs=1e-9)
    # random perturbation: float64 reference formula and skimage agree
    rng = np.random.default_rng(2)
    noisy = np.clip(images + 0.03 * rng.standard_normal(images.shape), 0, 1)
    ref = 10 * math.log10(1.0 / np.mean((images - noisy) ** 2))
    got = psnr(torch.from_numpy(images), torch.from_numpy(noisy)).item()
    assert got == pytest.approx(ref, abs=1e-9)
    assert got == pytest.approx(sk_psnr(images, noisy, data_range=1.0), abs=1e-9)


def test_psnr_batch_is_per_image():
    a = torch.zeros(2, 4, 4, 3, dtype=torch.float64)
    b = a.clone()
    b[0] += 0.1          # 20 dB
    b[1] += 0.01         # 40 dB
    assert psnr(a, b).tolist() == pytest.approx([20.0, 40.0], abs=1e-9)


@pytest.mark.parametrize("kind", ["noise", "blur", "shift", "gain"])
@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_ssim_matches_skimage(images, kind, data_range):
    rng = np.random.default_rng(3)
    if kind == "noise":
        b = np.clip(images + 0.05 * rng.standard_normal(images.shape), 0, 1)
    elif kind == "blur":
        b = (images + np.roll(images, 2, 0) + np.roll(images, 2, 1)) / 3
    elif kind == "shift":
        b = np.clip(images + 0.07, 0, 1)
    else:
        b = images * 0.8
    want = sk_ssim(images, b, data_range=data_range, channel_axis=-1, gaussian_weights=False, win_size=7)
    got = ssim(torch.from_numpy(images), torch.from_numpy(b), data_range=data_range).item()
    assert got == pytest.approx(want, abs=1e-10)
    assert got < 1.0


def test_ssim_rejects_tiny_and_mismatched():
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(torch.zeros(5, 9, 3), torch.zeros(5, 9, 3))
    with pytest.raises(ValueError, match="differ"):
        ssim(torch.zeros(9, 9, 3), torch.zeros(9, 10, 3))


def test_flip_orders_perturbations(images):
    rng = np.random.default_rng(4)
    small = np.clip(images + 0.01 * rng.standard_normal(images.shape), 0, 1)
    large = np.clip(images + 0.2 * rng.standard_normal(images.shape), 0, 1)
    assert 0.0 < flip(images, small) < flip(images, large) <= 1.0


def test_strict_json_replaces_non_finite(tmp_path):
    obj = {"a": float("inf"), "b": [float("nan"), 1.5], "c": np.float32(2.0), "d": np.int64(3)}
    assert finite_json(obj) == {"a": None, "b": [None, 1.5], "c": 2.0, "d": 3}
    write_strict_json(tmp_path / "r.json", obj)
    assert json.loads((tmp_path / "r.json").read_text())["a"] is None


def _random_lpips_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, (idx, co, ci, k, _s, _p) in enumerate(_CONVS):
        sd[f"features.{idx}.weight"] = torch.randn(co, ci, k, k, generator=g) * 0.05
        sd[f"features.{idx}.bias"] = torch.zeros(co)
        sd[f"lin{i}.model.1.weight"] = torch.rand(1, co, 1, 1, generator=g)
    return sd


def test_lpips_loader_from_folder_and_file(tmp_path):
    sd = _random_lpips_state()
    backbone = {k: v for k, v in sd.items() if k.startswith("features")}
    heads = {k: v for k, v in sd.items() if k.startswith("lin")}
    torch.save(backbone, tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save(heads, tmp_path / "alex.pth")
    torch.save(sd, tmp_path / "combined.pth")
    rng = np.random.default_rng(5)
    a = torch.from_numpy(rng.random((64, 64, 3))).float()
    b = (a + 0.1 * torch.from_numpy(rng.standard_normal((64, 64, 3))).float()).clamp(0, 1)
    for src in (tmp_path, tmp_path / "combined.pth"):
        net = load_lpips_alex(src)
        assert net(a, a).item() == pytest.approx(0.0, abs=1e-7)
        assert net(a, b).item() > 0.0
    assert load_lpips_alex(tmp_path)(a, b).item() == pytest.approx(load_lpips_alex(tmp_path / "combined.pth")(a, b).item())


def test_lpips_loader_errors(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_lpips_alex(tmp_path / "nope.pth")
    with pytest.raises(DataFormatError, match="must contain"):
        load_lpips_alex(tmp_path)
    sd = _random_lpips_state()
    del sd["lin3.model.1.weight"]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(DataFormatError, match="lin3"):
        load_lpips_alex(tmp_path / "bad.pth")


def test_flip_subset_is_per_camera_and_evenly_spaced():
    from sync4dgs.eval.image_eval import flip_subset

    names = [f"cam00_{i:05d}.png" for i in range(10)] + [f"cam01_{i:05d}.png" for i in range(3)]
    chosen = flip_subset(names, 4)
    assert sorted(n for n in chosen if n.startswith("cam00")) == [f"cam00_{i:05d}.png" for i in (0, 3, 6, 9)]
    assert {n for n in chosen if n.startswith("cam01")} == set(names[10:])     # fewer frames than the cap: all
    assert flip_subset(names, 0) == set(names)
