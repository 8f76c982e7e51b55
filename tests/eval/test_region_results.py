"""Region metrics in results.json / per_view.json, the montage PNGs and the CPU thread setting of evaluation."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from sync4dgs.cli.metrics import format_summary
from sync4dgs.data.frames import open_frames
from sync4dgs.data.gt_masks import gt_mask_path, pack_mask, save_gt_masks
from sync4dgs.data.motion_mask import moving_mask, temporal_median
from sync4dgs.eval import layout
from sync4dgs.eval.cpu_threads import eval_cpu_threads, torch_threads
from sync4dgs.eval.image_metrics import PSNR_CAP_DB
from sync4dgs.eval.montage import OUTLINE_RGB, montage_size, tile_size, write_comparison_montage
from sync4dgs.eval.render_views import read_png, render_model, write_png
from sync4dgs.eval.results import MetricsOptions, compute_results

from .conftest import H, ITERATION, N_FRAMES, W

REGION_FIELDS = {"psnr", "ssim", "coverage", "n_images", "n_images_ssim", "n_empty"}
BLOCK = (slice(8, 16), slice(10, 22))


def _opts(**kw) -> MetricsOptions:
    return MetricsOptions(**{"device": "cpu", "fps_repeats": 0, "progress": False, **kw})


def _perfect_renders_but_frame1_block(model_path) -> tuple[np.ndarray, np.ndarray]:
    """Test renders := ground truth, except a block of frame 1 set to black. Returns (gt, render) of frame 1."""
    rdir, gdir = (layout.renders_dir(model_path, "test", ITERATION), layout.gt_dir(model_path, "test", ITERATION))
    shutil.rmtree(rdir)
    shutil.copytree(gdir, rdir)
    gt = read_png(gdir / "cam00_00001.png")
    bad = gt.copy()
    bad[BLOCK] = 0
    write_png(rdir / "cam00_00001.png", bad)
    return gt, bad


def test_results_have_estimated_and_true_region_metrics(tiny):
    render_model(tiny.model_path, device="cpu", progress=False, write_videos=False)
    gt1, bad1 = _perfect_renders_but_frame1_block(tiny.model_path)
    true = np.zeros((N_FRAMES, H, W), dtype=bool)
    true[:, BLOCK[0], BLOCK[1]] = True                  # the "moving object" is where the render is wrong
    save_gt_masks(gt_mask_path(tiny.scene.root, "cam00"), pack_mask(true), W)
    r = compute_results(tiny.model_path, _opts())
    test = r["images"]["test"]
    assert set(test["regions"]) == {"moving", "static", "moving_true", "static_true"}
    assert all(set(v) == REGION_FIELDS for v in test["regions"].values())
    assert set(test["per_camera"]["cam00"]["regions"]) == set(test["regions"])
    assert set(r["images"]["train"]["regions"]) == {"moving", "static"}     # no true masks for cam01/cam02
    assert {"region_psnr", "region_ssim", "region_coverage", "regions"} <= set(r["conventions"])
    mt, st = test["regions"]["moving_true"], test["regions"]["static_true"]
    a, b = bad1.astype(np.float64) / 255, gt1.astype(np.float64) / 255
    want = 10 * math.log10(1.0 / np.mean((a[BLOCK] - b[BLOCK]) ** 2))
    assert st["psnr"] == PSNR_CAP_DB and st["ssim"] < 1.0          # SSIM windows straddle the block edge
    assert mt["psnr"] == pytest.approx((3 * PSNR_CAP_DB + want) / 4, abs=1e-9)
    assert mt["coverage"] == pytest.approx(true[0].mean()) and mt["n_empty"] == 0 and mt["n_images"] == 4
    per_view = json.loads((tiny.model_path / "per_view.json").read_text())["splits"]["test"]
    f1 = per_view["cam00_00001.png"]["regions"]
    assert f1["moving_true"]["psnr"] == pytest.approx(want, abs=1e-9) and f1["static_true"]["psnr"] == PSNR_CAP_DB
    assert per_view["cam00_00000.png"]["regions"]["moving_true"]["ssim"] == pytest.approx(1.0, abs=1e-12)
    # estimated masks: each frame against the temporal median of ALL of cam00's frames
    frames = np.stack([open_frames(tiny.scene, "cam00")[i] for i in range(N_FRAMES)])
    masks = moving_mask(frames, temporal_median(frames))
    for i in range(N_FRAMES):
        assert per_view[f"cam00_{i:05d}.png"]["regions"]["moving"]["coverage"] == pytest.approx(masks[i].mean())
    assert test["regions"]["moving"]["coverage"] == pytest.approx(masks.mean())
    text = format_summary(r)
    assert "moving_true" in text and "static" in text and "coverage" in text


def test_median_is_over_all_frames_not_the_rendered_ones(tiny):
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False,
                 frame_stride=3, montage_frames=0)
    r = compute_results(tiny.model_path, _opts())
    assert r["images"]["test"]["n_images"] == 2                   # frames 0 and 3
    frames = np.stack([open_frames(tiny.scene, "cam00")[i] for i in range(N_FRAMES)])
    all_median = temporal_median(frames)
    subset = moving_mask(frames[[0, 3]])
    full = moving_mask(frames[[0, 3]], all_median)
    assert not np.array_equal(subset, full)                       # the choice matters on this scene
    per_view = json.loads((tiny.model_path / "per_view.json").read_text())["splits"]["test"]
    assert per_view["cam00_00003.png"]["regions"]["moving"]["coverage"] == pytest.approx(full[1].mean())
    assert not (layout.split_dir(tiny.model_path, "test", ITERATION) / "montage.png").exists()


def test_mismatched_true_masks_are_ignored_and_regions_can_be_off(tiny):
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False)
    save_gt_masks(gt_mask_path(tiny.scene.root, "cam00"), pack_mask(np.zeros((2, H, W), bool)), W)
    r = compute_results(tiny.model_path, _opts())
    assert set(r["images"]["test"]["regions"]) == {"moving", "static"}
    assert "do not match" in r["images"]["test"]["region_notes"]["cam00"]
    r = compute_results(tiny.model_path, _opts(regions=False))
    assert "regions" not in r["images"]["test"] and "regions" not in r["images"]["test"]["per_camera"]["cam00"]


def test_render_writes_a_montage_of_evenly_spaced_test_frames(tiny):
    render_model(tiny.model_path, device="cpu", progress=False, write_videos=False)
    path = layout.split_dir(tiny.model_path, "test", ITERATION) / "montage.png"
    img = np.asarray(Image.open(path).convert("RGB"))
    assert (img.shape[1], img.shape[0]) == montage_size(4, 3, W, H)
    tw, th = tile_size(W, H)
    assert tw >= 192 and tw % W == 0 and th == H * (tw // W)
    assert (img == np.array(OUTLINE_RGB, np.uint8)).all(-1).any()   # moving outline on the ground truth
    assert not (layout.split_dir(tiny.model_path, "train", ITERATION) / "montage.png").exists()


def test_comparison_montage(tiny, tmp_path):
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False,
                 max_frames=3, montage_frames=0)
    sd = layout.split_dir(tiny.model_path, "test", ITERATION)
    other = tmp_path / "other"
    shutil.copytree(sd / "renders", other)
    (other / "cam00_00002.png").unlink()                            # only frames 0, 1 are common to all
    p = write_comparison_montage(tmp_path / "m.png", sd / "gt", {"a": sd / "renders", "b": other}, n_frames=4)
    img = np.asarray(Image.open(p).convert("RGB"))
    assert (img.shape[1], img.shape[0]) == montage_size(2, 3, W, H)
    assert write_comparison_montage(tmp_path / "n.png", sd / "gt", {"a": tmp_path / "empty"}) is None
    assert not (tmp_path / "n.png").exists()


def test_eval_cpu_threads_rule_and_restore():
    meta = {"config": {"train": {"cpu_threads": 1}}}
    assert eval_cpu_threads(meta) == 1 and eval_cpu_threads(meta, 3) == 3
    assert eval_cpu_threads({"config": {"train": {"cpu_threads": 0}}}) == 0 and eval_cpu_threads(None) == 0
    before = torch.get_num_threads()
    with torch_threads(1, "cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(1, "cuda"):                                   # only the CPU is affected
        assert torch.get_num_threads() == before
