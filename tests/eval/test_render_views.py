"""``sync4dgs render``: 3DGS layout, one image per frame, pixels equal to a direct render() at the mapped time."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sync4dgs.cli.main import main
from sync4dgs.data.video import read_video
from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.eval.render_views import read_png, render_model
from sync4dgs.render import RenderCameras, render
from sync4dgs.model.io import save_model
from sync4dgs.timemap import TimeMap

from .conftest import ITERATION, LEARNED_OFFSETS, N_FRAMES, TRUE_OFFSETS, learned_maps


def _direct(model, cam, t, bg):
    g = model.at_time(float(t))
    cams = RenderCameras(torch.tensor(cam.viewmat, dtype=torch.float32)[None],
                         torch.tensor(cam.K, dtype=torch.float32)[None], cam.width, cam.height)
    out = render(g, cams, backend="torch", sh_degree=1, background=torch.tensor(bg), near=0.1, far=20.0)
    return (out.image[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def test_render_layout_and_pixels(tiny):
    results = render_model(tiny.model_path, device="cpu", progress=False)
    assert [r.split for r in results] == ["train", "test"]
    for r in results:
        assert r.folder == layout.split_dir(tiny.model_path, r.split, ITERATION)
        cams = ["cam00"] if r.split == "test" else ["cam01", "cam02"]
        want = sorted(layout.image_name(c, i) for c in cams for i in range(N_FRAMES))
        assert sorted(p.name for p in (r.folder / "renders").iterdir()) == want
        assert sorted(p.name for p in (r.folder / "gt").iterdir()) == want
        assert sorted(p.name for p in (r.folder / "videos").iterdir()) == [f"{c}.mp4" for c in cams]
    # pixels: each frame rendered at offset + tau (learned map for training cams, reference clock for cam00)
    bg = (0.2, 0.3, 0.4)   # from the model's recorded config
    for name, split in (("cam00", "test"), ("cam02", "train")):
        cam = tiny.scene.camera(name)
        for i in range(N_FRAMES):
            t = LEARNED_OFFSETS[name] + i / cam.fps
            got = read_png(layout.renders_dir(tiny.model_path, split, ITERATION) / layout.image_name(name, i))
            np.testing.assert_array_equal(got, _direct(tiny.model, cam, t, bg))
    # frames at different times really differ (the dynamic Gaussians move)
    d0 = read_png(layout.renders_dir(tiny.model_path, "train", ITERATION) / "cam01_00000.png")
    d3 = read_png(layout.renders_dir(tiny.model_path, "train", ITERATION) / "cam01_00003.png")
    assert np.abs(d0.astype(int) - d3.astype(int)).max() > 10
    # gt copies the source frames exactly
    gt = read_png(layout.gt_dir(tiny.model_path, "train", ITERATION) / "cam02_00002.png")
    np.testing.assert_array_equal(gt, read_png(tiny.scene.root / "images" / "cam02" / "00002.png"))
    info = json.loads((layout.split_dir(tiny.model_path, "train", ITERATION) / "render_info.json").read_text())
    assert info["cameras"]["cam01"]["source"] == "learned"
    assert info["cameras"]["cam01"]["t_global_s"] == pytest.approx([LEARNED_OFFSETS["cam01"] + i / 10 for i in range(4)])
    frames, times = read_video(layout.videos_dir(tiny.model_path, "train", ITERATION) / "cam02.mp4")
    assert frames.shape == (N_FRAMES, 32, 40, 3)
    assert times == pytest.approx(np.arange(N_FRAMES) / 8.0, abs=1e-3)


def test_test_camera_time_maps_file(tiny, tmp_path):
    # make cam02 a held-out camera: with gt_sync.json it is rendered at the truth, without a file at the estimate
    # training started from (kept in the model's maps) when confident, else at identity
    scene = tiny.scene
    scene.test_cameras = ["cam00", "cam02"]
    scene.save()
    render_model(tiny.model_path, scene.root, splits=("test",), device="cpu",
                 progress=False, write_videos=False, test_time_maps=scene.gt_sync_path)
    info = json.loads((layout.split_dir(tiny.model_path, "test", ITERATION) / "render_info.json").read_text())
    assert info["cameras"]["cam02"]["source"] == "test_time_maps"
    assert info["cameras"]["cam02"]["offset_s"] == pytest.approx(TRUE_OFFSETS["cam02"])
    assert info["cameras"]["cam00"]["source"] == "reference"
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False)
    info = json.loads((layout.split_dir(tiny.model_path, "test", ITERATION) / "render_info.json").read_text())
    assert info["cameras"]["cam02"]["source"] == "initial_estimate"
    assert info["cameras"]["cam02"]["offset_s"] == pytest.approx(LEARNED_OFFSETS["cam02"])
    maps = learned_maps()
    maps.cameras["cam02"] = TimeMap(LEARNED_OFFSETS["cam02"], 1.0, 0.2, "unaligned")    # a low-confidence estimate
    save_model(tiny.model_path / "point_cloud" / f"iteration_{ITERATION}" / "model.pt", tiny.model, maps,
               {"source_path": str(scene.root)})
    render_model(tiny.model_path, splits=("test",), device="cpu", progress=False, write_videos=False)
    info = json.loads((layout.split_dir(tiny.model_path, "test", ITERATION) / "render_info.json").read_text())
    assert info["cameras"]["cam02"]["source"] == "identity" and info["cameras"]["cam02"]["offset_s"] == 0.0


def test_cli_skip_and_stride(tiny, capsys):
    rc = main(["render", "--model_path", str(tiny.model_path), "--skip_train", "--frame_stride", "2",
               "--device", "cpu", "--quiet", "--no_video"])
    assert rc == 0
    names = sorted(p.name for p in layout.renders_dir(tiny.model_path, "test", ITERATION).iterdir())
    assert names == ["cam00_00000.png", "cam00_00002.png"]
    assert not (tiny.model_path / "train").exists()
    assert "test: 2 images" in capsys.readouterr().out


def test_missing_model_and_iteration_errors(tiny, tmp_path, capsys):
    with pytest.raises(DataFormatError, match="model folder not found"):
        render_model(tmp_path / "nope", device="cpu")
    with pytest.raises(DataFormatError, match=r"iteration 3 was not saved; saved: \[7\]"):
        render_model(tiny.model_path, iteration=3, device="cpu")
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="no trained weights"):
        render_model(empty, device="cpu")
    rc = main(["render", "--model_path", str(tiny.model_path), "--iteration", "3", "--device", "cpu"])
    assert rc == 1
    assert "iteration 3 was not saved" in capsys.readouterr().err
