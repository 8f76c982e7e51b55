"""``sync4dgs metrics``: results.json values (identical images, known perturbations, offsets, model stats)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity as sk_ssim

from sync4dgs.cli.main import main
from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.eval.image_metrics import PSNR_CAP_DB
from sync4dgs.eval.render_views import read_png, render_model, write_png
from sync4dgs.eval.results import MetricsOptions, compute_results
from sync4dgs.model import folder
from sync4dgs.timemap import TimeMap, TimeMaps

from .conftest import ITERATION


def _no_nonfinite(obj) -> bool:
    if isinstance(obj, dict):
        return all(_no_nonfinite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_no_nonfinite(v) for v in obj)
    return not (isinstance(obj, float) and not math.isfinite(obj))


def _opts(**kw) -> MetricsOptions:
    return MetricsOptions(**{"device": "cpu", "fps_warmup": 1, "fps_repeats": 2, "progress": False, **kw})


def test_identical_images_and_offsets(tiny):
    render_model(tiny.model_path, device="cpu", progress=False, write_videos=False)
    for split in layout.SPLITS:   # make every render equal to its ground truth
        shutil.rmtree(layout.renders_dir(tiny.model_path, split, ITERATION))
        shutil.copytree(layout.gt_dir(tiny.model_path, split, ITERATION),
                        layout.renders_dir(tiny.model_path, split, ITERATION))
    (tiny.model_path / "stage1").mkdir()
    TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.25 - 0.1, 1.0),
                       "cam02": TimeMap(-0.1, 1.0)}).save(tiny.model_path / "stage1" / "offsets.json")
    TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.25 + 0.1 / 10, 1.0),
                       "cam02": TimeMap(-0.1, 1.0)}).save(folder.initial_time_maps_path(tiny.model_path))
    (tiny.model_path / "train_stats.json").write_text(json.dumps({"wall_time_s": 12.5, "iterations": 7}))
    compute_results(tiny.model_path, _opts())
    text = (tiny.model_path / "results.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    r = json.loads(text)
    assert _no_nonfinite(r)
    assert r["iteration"] == ITERATION
    for split, n in (("test", 4), ("train", 8)):
        m = r["images"][split]["mean"]
        assert r["images"][split]["n_images"] == n
        assert m["psnr"] == PSNR_CAP_DB
        assert m["ssim"] == pytest.approx(1.0, abs=1e-12) and m["ssim2"] == pytest.approx(1.0, abs=1e-12)
        assert m["flip"] == 0.0
    assert set(r["images"]["train"]["per_camera"]) == {"cam01", "cam02"}
    # where the evaluation's time went: phases of the rendering (render_info.json) and of the metrics
    assert set(r["images"]["test"]["render_seconds"]) == {"render", "gt_read", "png_write"}
    assert set(r["images"]["test"]["seconds"]) == {"read", "psnr_ssim", "flip", "regions"}
    assert all(v >= 0 for v in r["images"]["train"]["seconds"].values())
    assert r["lpips"]["status"] == "unavailable" and "weights" in r["lpips"]["reason"]
    # learned: cam01 +0.05 s = +0.5 frame (10 fps), cam02 -0.0125 s = -0.1 frame (8 fps)
    learned = r["offsets"]["learned"]
    assert learned["per_camera"]["cam01"]["error_frames"] == pytest.approx(0.5)
    assert learned["per_camera"]["cam02"]["error_frames"] == pytest.approx(-0.1)
    assert learned["per_camera"]["cam02"]["error_ms"] == pytest.approx(-12.5)
    s = learned["summary"]
    assert s["n_cameras"] == 2 and s["mae_frames"] == pytest.approx(0.3) and s["max_ms"] == pytest.approx(50.0)
    assert s["pct_within_0.5_frame"] == pytest.approx(100.0)
    st1 = r["offsets"]["stage1"]["summary"]      # cam01 -1 frame, cam02 exact
    assert st1["n_cameras"] == 2 and st1["max_frames"] == pytest.approx(1.0) and st1["pct_within_0.5_frame"] == 50.0
    init = r["offsets"]["initial"]["summary"]    # cam01 +0.1 frame, cam02 exact
    assert init["n_cameras"] == 2 and init["max_frames"] == pytest.approx(0.1) and init["mae_frames"] == pytest.approx(0.05)
    assert r["model"]["n_static"] == 20 and r["model"]["n_dynamic"] == 6 and r["model"]["size_mb"] > 0
    assert r["training"]["wall_time_s"] == 12.5
    sp = r["render_speed"]
    assert sp["fps"] > 0 and sp["width"] == 40 and sp["camera"] == "cam00" and sp["backend"] == "torch"
    per_view = json.loads((tiny.model_path / "per_view.json").read_text())
    assert set(per_view["splits"]["test"]) == {f"cam00_{i:05d}.png" for i in range(4)}


def test_known_perturbation_matches_references(tiny):
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False)
    rdir, gdir = (layout.renders_dir(tiny.model_path, "test", ITERATION),
                  layout.gt_dir(tiny.model_path, "test", ITERATION))
    want_psnr, want_ssim = [], []
    for i in range(4):
        gt = read_png(gdir / f"cam00_{i:05d}.png")
        pert = np.clip(gt.astype(np.int32) + (i + 1) * 3, 0, 255).astype(np.uint8)   # brighter by 3, 6, 9, 12
        write_png(rdir / f"cam00_{i:05d}.png", pert)
        a, b = pert.astype(np.float64) / 255, gt.astype(np.float64) / 255
        want_psnr.append(10 * np.log10(1.0 / np.mean((a - b) ** 2)))
        want_ssim.append(sk_ssim(a, b, data_range=1.0, channel_axis=-1))
    r = compute_results(tiny.model_path, _opts(fps_repeats=0))
    m = r["images"]["test"]["mean"]
    assert m["psnr"] == pytest.approx(np.mean(want_psnr), abs=1e-9)     # mean of per-image PSNR
    assert m["ssim"] == pytest.approx(np.mean(want_ssim), abs=1e-9)
    assert 0 < m["flip"] < 1
    assert r["render_speed"] is None
    assert "train" not in r["images"]
    # FLIP on a subset (first and last frame of the camera): its mean is over exactly those frames
    r2 = compute_results(tiny.model_path, _opts(fps_repeats=0, flip_max_frames=2))
    per_view = json.loads((tiny.model_path / "per_view.json").read_text())["splits"]["test"]
    with_flip = sorted(n for n, v in per_view.items() if "flip" in v)
    assert with_flip == ["cam00_00000.png", "cam00_00003.png"] and r2["images"]["test"]["n_images_flip"] == 2
    full = json.loads(json.dumps(r["images"]["test"]))
    assert r2["images"]["test"]["mean"]["psnr"] == full["mean"]["psnr"]
    assert r2["images"]["test"]["mean"]["flip"] == pytest.approx(np.mean([per_view[n]["flip"] for n in with_flip]))


def test_metrics_errors(tiny, tmp_path, capsys):
    with pytest.raises(DataFormatError, match="run `sync4dgs render"):
        compute_results(tiny.model_path, _opts())
    with pytest.raises(DataFormatError, match="model folder not found"):
        compute_results(tmp_path / "missing", _opts())
    assert main(["metrics", "--model_path", str(tiny.model_path), "--iteration", "99", "--device", "cpu"]) == 1
    assert "iteration 99 was not saved" in capsys.readouterr().err


def test_metrics_cli_and_lpips_weights(tiny, tmp_path, capsys):
    from .test_image_metrics import _random_lpips_state

    torch.save(_random_lpips_state(), tmp_path / "lpips.pth")
    assert main(["render", "-m", str(tiny.model_path), "--skip_train", "--device", "cpu", "--quiet"]) == 0
    assert main(["metrics", "-m", str(tiny.model_path), "--device", "cpu", "--quiet", "--fps_repeats", "1",
                 "--lpips_weights", str(tmp_path / "lpips.pth")]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "LPIPS-Alex" in out and "results.json" in out
    r = json.loads((tiny.model_path / "results.json").read_text())
    assert r["lpips"]["status"] == "computed" and r["images"]["test"]["mean"]["lpips_alex"] > 0
